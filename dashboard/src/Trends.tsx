import { TrendRange, type Trends as TrendsData } from "@parley/proto/wall";
import { createMemo, For, Show } from "solid-js";
import uPlot from "uplot";
import { UPlotChart } from "./UPlotChart.tsx";
import { formatNumber, language, t, topic } from "./ui.ts";

const bars = uPlot.paths.bars?.({ size: [0.6, 40] });

/** Score and volume over the range (uPlot), and topics with their sentiment. */
export function Trends(props: {
  trends: TrendsData | undefined;
  range: TrendRange;
  setRange: (r: TrendRange) => void;
}) {
  const data = createMemo(() => {
    const buckets = props.trends?.buckets ?? [];
    return [
      buckets.map((b) => Number(b.startMs) / 1000),
      buckets.map((b) => b.count),
      buckets.map((b) => (b.count ? b.averageScore : null)),
    ] as uPlot.AlignedData;
  });
  const options = () => {
    language();
    return {
      scales: {
        x: { time: true },
        count: { range: (_u: uPlot, _min: number, max: number) => [0, Math.max(4, max)] as [number, number] },
        score: { range: [0, 100] as [number, number] },
      },
      axes: [
        { stroke: "#94a3b8", grid: { stroke: "#1e293b" } },
        { scale: "count", label: t("trends.volume"), stroke: "#94a3b8", grid: { stroke: "#1e293b" } },
        { scale: "score", side: 1, label: t("trends.score"), stroke: "#94a3b8", grid: { show: false } },
      ],
      series: [
        {},
        {
          label: t("trends.volume"),
          scale: "count",
          fill: "#334155",
          stroke: "#475569",
          ...(bars ? { paths: bars } : {}),
        },
        {
          label: t("trends.score"),
          scale: "score",
          stroke: "#60a5fa",
          width: 2,
          spanGaps: true,
          points: { show: true },
        },
      ],
    };
  };
  const maxTopic = () => Math.max(1, ...(props.trends?.topics.map((x) => x.count) ?? [1]));
  const total = () => props.trends?.buckets.reduce((n, b) => n + b.count, 0) ?? 0;
  return (
    <section class="trends" data-testid="trends">
      <header>
        <h2>{t("trends.title")}</h2>
        <div class="tabs">
          <For each={[TrendRange.TODAY, TrendRange.DAYS_7, TrendRange.DAYS_30]}>
            {(r) => (
              <button
                type="button"
                class={`small ${props.range === r ? "active" : ""}`}
                onClick={() => props.setRange(r)}
              >
                {r === TrendRange.TODAY
                  ? t("trends.today")
                  : r === TrendRange.DAYS_7
                    ? t("trends.week")
                    : t("trends.month")}
              </button>
            )}
          </For>
        </div>
      </header>
      <UPlotChart options={options} data={data()} height={200} testId="trends-chart" />
      <Show when={total() === 0}>
        <p class="empty">{t("trends.empty")}</p>
      </Show>
      <h3>{t("trends.topics")}</h3>
      <ul class="topics">
        <For each={props.trends?.topics.slice(0, 8) ?? []}>
          {(x) => (
            <li>
              <span class="name">{topic(x.topic)}</span>
              <span class="bar">
                <span
                  style={{
                    width: `${(100 * x.count) / maxTopic()}%`,
                    background:
                      x.averageSentiment < -0.2 ? "#ef4444" : x.averageSentiment > 0.2 ? "#22c55e" : "#94a3b8",
                  }}
                />
              </span>
              <span class="count">
                {x.count}
                <Show when={x.negative > 0}> · {t("trends.negative", { n: x.negative })}</Show>
              </span>
              <span class="sent">{formatNumber(x.averageSentiment, 2)}</span>
            </li>
          )}
        </For>
      </ul>
    </section>
  );
}

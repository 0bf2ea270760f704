import { EndReason } from "@parley/proto/live";
import type { Conversation } from "@parley/proto/wall";
import { createMemo, For, onCleanup, onMount, Show } from "solid-js";
import { Chips, ScoreBadge } from "./ScoreBadge.tsx";
import { type Card, isLive, mergeScores, rewardPhase } from "./state.ts";
import { rewardText } from "./Ticker.tsx";
import { UPlotChart } from "./UPlotChart.tsx";
import { formatTime, language, rewardReason, rule, serverNow, t } from "./ui.ts";

/**
 * One conversation in full: transcript, the AI's questions, the score over
 * time as a chart, the reward. A live one is drawn from the wall's own
 * state (it keeps moving), and so is one that ended since the history's copy
 * was taken (that copy stops where the conversation was then); a finished
 * one from the history. The score's course of a live one is the history's
 * so far and the wall's own points after it. A side panel,
 * not modal (the wall stays usable beside it): it takes the focus when it
 * opens, gives it back when it closes, and Escape closes it.
 */
export function DrillDown(props: {
  card: Card | undefined;
  conversation: Conversation | undefined;
  /** The history's answer failed: nothing more is coming. */
  failed: boolean;
  close: () => void;
}) {
  let panel!: HTMLElement;
  const opener = document.activeElement;
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") props.close();
  };
  onMount(() => {
    panel.focus();
    document.addEventListener("keydown", onKey);
  });
  onCleanup(() => {
    document.removeEventListener("keydown", onKey);
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
  });
  // A memo: the clock ticks every second, the chart is redrawn only when this changes.
  const live = createMemo(() => !!props.card && isLive(props.card, serverNow()));
  /** The wall's own card, unless the history's finished copy is there (a live copy stops where it was taken). */
  const fromCard = () => !!props.card && (live() || !props.conversation || props.conversation.live);
  const segments = () =>
    fromCard()
      ? props.card!.segments
      : (props.conversation?.segments.map((s) => ({
          id: s.segmentId,
          text: s.text,
          isFinal: true,
          startMs: s.startMs,
        })) ?? []);
  const questions = () =>
    fromCard() ? props.card!.aiTurns : (props.conversation?.aiTurns.map((a) => ({ turn: a.turn, text: a.text })) ?? []);
  const timeline = createMemo(() => {
    const history =
      props.conversation?.scoreTimeline.map((p) => ({ atMs: Number(p.atMs), score: p.score?.score ?? 0 })) ?? [];
    // The wall's card has the scores since it connected: the history's copy, taken when the drill-down
    // opened, has the course before (records keeps every score), so a late wall draws all of it.
    const points = fromCard() ? mergeScores(history, props.card!.scores) : history;
    const start = props.card?.startedAtMs ?? Number(props.conversation?.feedback?.startedAtMs ?? 0);
    return [points.map((p) => (p.atMs - start) / 1000), points.map((p) => p.score)] as [number[], number[]];
  });
  const feedback = () => props.conversation?.feedback;
  const score = () => props.card?.score ?? feedback()?.finalScore;
  /** The history's word on the reward once it is there (it knows how far the payment got), else the wall's. */
  const reward = (): Pick<Card, "reward" | "rewardReason" | "rewardMinor" | "currency"> | undefined => {
    const f = feedback();
    if (f?.rewardStatus)
      return { reward: f.rewardStatus, rewardReason: f.rewardReason, rewardMinor: f.rewardMinor, currency: f.currency };
    return props.card?.reward ? props.card : undefined;
  };
  const fraudFlags = () => (feedback()?.fraudFlags.length ? feedback()!.fraudFlags : (props.card?.fraudFlags ?? []));
  const qualityFlags = () =>
    feedback()?.qualityFlags.length ? feedback()!.qualityFlags : (props.card?.qualityFlags ?? []);
  const reason = () => props.card?.endReason || feedback()?.reason || EndReason.UNSPECIFIED;
  const chartOptions = () => {
    language();
    return {
      scales: { x: { time: false }, y: { range: [0, 100] as [number, number] } },
      axes: [
        { label: t("drill.seconds"), stroke: "#94a3b8", grid: { stroke: "#1e293b" } },
        { label: t("trends.score"), stroke: "#94a3b8", grid: { stroke: "#1e293b" } },
      ],
      series: [{}, { label: t("trends.score"), stroke: "#60a5fa", width: 2, points: { show: true } }],
      legend: { show: false },
    };
  };
  return (
    <aside class="drill" data-testid="drill" role="dialog" aria-label={t("drill.title")} tabIndex={-1} ref={panel}>
      <header>
        <h2>
          {t("drill.title")} · {props.card?.storeCode ?? feedback()?.storeCode}{" "}
          <small>{formatTime(props.card?.startedAtMs ?? Number(feedback()?.startedAtMs ?? 0))}</small>
        </h2>
        <button type="button" class="small" onClick={() => props.close()}>
          {t("drill.close")}
        </button>
      </header>
      <Show when={props.failed && !live()}>
        <p class="problem" role="alert" data-testid="drill-problem">
          {t("drill.failed")}
        </p>
      </Show>
      <Show
        when={props.card || props.conversation}
        fallback={
          <Show when={!props.failed}>
            <p>{t("drill.loading")}</p>
          </Show>
        }
      >
        <div class="drill-body">
          <section>
            <Show when={score()}>{(s) => <ScoreBadge score={s()} />}</Show>
            <Chips score={score()} />
            <Show when={score()?.hint}>
              <p class="hint">{score()!.hint}</p>
            </Show>
            <h3>{t("drill.timeline")}</h3>
            <UPlotChart options={chartOptions} data={timeline()} height={160} testId="drill-chart" />
            <h3>{t("drill.reward")}</h3>
            <Show when={reward()} fallback={<p data-testid="drill-reward">{t("drill.noReward")}</p>}>
              {(r) => (
                <>
                  <p data-testid="drill-reward" data-reward={r().reward} class={`reward ${rewardPhase(r().reward)}`}>
                    {rewardText(r())}
                  </p>
                  <Show when={r().rewardReason}>
                    <p class="why">{t("drill.why", { reason: rewardReason(r().rewardReason) })}</p>
                  </Show>
                </>
              )}
            </Show>
            <Show when={fraudFlags().length > 0}>
              <h3>{t("drill.flags")}</h3>
              <ul class="flags fraud" data-testid="drill-flags">
                <For each={fraudFlags()}>{(f) => <li>{rule(f)}</li>}</For>
              </ul>
            </Show>
            <Show when={qualityFlags().length > 0}>
              <h3>{t("drill.quality")}</h3>
              <ul class="flags">
                <For each={qualityFlags()}>{(f) => <li>{rule(f)}</li>}</For>
              </ul>
            </Show>
            <Show when={!live() && reason() !== EndReason.UNSPECIFIED}>
              <p>{t("drill.reason", { reason: t(`reason.${EndReason[reason()]}` as "reason.CUSTOMER") })}</p>
            </Show>
            <Show when={props.card?.summary || feedback()?.summary}>
              <h3>{t("drill.summary")}</h3>
              <p>{props.card?.summary || feedback()?.summary}</p>
            </Show>
          </section>
          <section>
            <h3>{t("drill.transcript")}</h3>
            <p class="transcript" data-testid="drill-transcript">
              <For each={segments()}>{(s) => <span class={s.isFinal ? "final" : "partial"}>{s.text} </span>}</For>
            </p>
            <Show when={questions().length > 0}>
              <h3>{t("drill.questions")}</h3>
              <ol class="questions">
                <For each={questions()}>{(q) => <li>{q.text}</li>}</For>
              </ol>
            </Show>
          </section>
        </div>
      </Show>
    </aside>
  );
}

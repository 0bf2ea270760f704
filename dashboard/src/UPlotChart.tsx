// A thin Solid wrapper of uPlot: the chart is made on mount, gets new data
// through setData, follows its container's width, and is rebuilt only when
// its options change (a language switch relabels axes).
import { createEffect, on, onCleanup, onMount } from "solid-js";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export function UPlotChart(props: {
  options: () => Omit<uPlot.Options, "width" | "height">;
  data: uPlot.AlignedData;
  height: number;
  testId?: string;
}) {
  let container!: HTMLDivElement;
  let chart: uPlot | undefined;
  const build = () => {
    chart?.destroy();
    chart = new uPlot(
      { ...props.options(), width: Math.max(100, container.clientWidth), height: props.height },
      props.data,
      container,
    );
  };
  onMount(() => {
    build();
    const resize = new ResizeObserver(() =>
      chart?.setSize({ width: Math.max(100, container.clientWidth), height: props.height }),
    );
    resize.observe(container);
    onCleanup(() => {
      resize.disconnect();
      chart?.destroy();
    });
  });
  createEffect(on(props.options, () => chart && build(), { defer: true }));
  createEffect(
    on(
      () => props.data,
      (data) => chart?.setData(data),
      { defer: true },
    ),
  );
  return <div ref={container} class="chart" data-testid={props.testId} data-points={props.data[0]?.length ?? 0} />;
}

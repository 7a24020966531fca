// Time-series charts (uPlot) of the coordinator's last hour.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h } from "./dom";

export interface Series {
  label: string;
  color: string;
  values: (number | null)[];
}

export interface Chart {
  el: HTMLElement;
  update(xs: number[], series: Series[]): void;
  destroy(): void;
}

/// A line chart titled `title`, its x axis in Unix seconds.
export function lineChart(title: string, unit: string, id: string): Chart {
  const box = h("div", { class: "chart", id });
  const heading = h("h3", {}, title);
  const plotEl = h("div", { class: "plot" });
  box.append(heading, plotEl);
  let plot: uPlot | null = null;
  let labels = "";
  const width = () => Math.max(300, (box.clientWidth || 620) - 20);
  const onResize = () => plot?.setSize({ width: width(), height: 220 });
  window.addEventListener("resize", onResize);
  return {
    el: box,
    update(xs, series) {
      const data = [xs, ...series.map((s) => s.values)] as uPlot.AlignedData;
      const key = series.map((s) => s.label).join("|");
      if (plot && key === labels) {
        plot.setData(data);
        return;
      }
      plot?.destroy();
      labels = key;
      plot = new uPlot(
        {
          width: width(),
          height: 220,
          scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max) * 1.1] } },
          axes: [{}, { label: unit, size: 60 }],
          series: [
            {},
            ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, spanGaps: false })),
          ],
        },
        data,
        plotEl,
      );
    },
    destroy() {
      window.removeEventListener("resize", onResize);
      plot?.destroy();
    },
  };
}

/**
 * Metric lines of many runs, drawn with uPlot (a 50 KB canvas library made for many long
 * series): hover values in the legend, drag to zoom (double-click resets), log scale,
 * exponential smoothing, axis titles, one legend entry per run name. Colours from the theme.
 */
import * as React from 'react';
import uPlot from 'uplot';

import { cssVar, palette, useTheme } from './services';

export interface ILine {
  label: string;
  points: [number, number | null][];
}

/** Lines joined on one x axis: at most this many distinct x values (nearby ones share one). */
const MAX_X = 2000;

/** TensorBoard's debiased exponential moving average; ``weight`` 0 leaves values as they are. */
export function smooth(
  values: (number | null)[],
  weight: number
): (number | null)[] {
  if (weight <= 0) {
    return values;
  }
  let last = 0;
  let count = 0;
  return values.map(v => {
    if (v === null || !isFinite(v)) {
      return v;
    }
    last = last * weight + (1 - weight) * v;
    count += 1;
    return last / (1 - Math.pow(weight, count));
  });
}

/** uPlot's aligned data: one sorted x array and one y array per line (null where it has no point). */
export function align(
  lines: ILine[],
  weight: number,
  log: boolean
): uPlot.AlignedData {
  let lo = Infinity;
  let hi = -Infinity;
  const distinct = new Set<number>();
  for (const line of lines) {
    for (const [x] of line.points) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
      if (distinct.size <= MAX_X) {
        distinct.add(x);
      }
    }
  }
  const quantum = distinct.size > MAX_X ? (hi - lo) / MAX_X : 0;
  const snap = (x: number) =>
    quantum ? lo + Math.round((x - lo) / quantum) * quantum : x;
  const xs = Array.from(
    new Set(lines.flatMap(l => l.points.map(p => snap(p[0]))))
  ).sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = lines.map(line => {
    const ys: (number | null)[] = new Array(xs.length).fill(null);
    const smoothed = smooth(
      line.points.map(p => p[1]),
      weight
    );
    line.points.forEach((p, i) => {
      const y = smoothed[i];
      ys[index.get(snap(p[0]))!] = log && y !== null && y <= 0 ? null : y;
    });
    return ys;
  });
  return [xs, ...ys] as uPlot.AlignedData;
}

export function LineChart(props: {
  title: string;
  lines: ILine[];
  xLabel: string;
  time?: boolean;
  log?: boolean;
  smoothing?: number;
  height?: number;
}): JSX.Element {
  const theme = useTheme();
  const host = React.useRef<HTMLDivElement>(null);
  const [drawn, setDrawn] = React.useState(false);
  React.useEffect(() => {
    const node = host.current;
    if (!node) {
      return;
    }
    setDrawn(false);
    const colours = palette();
    const text = cssVar('--jp-ui-font-color1', '#000');
    const grid = cssVar('--jp-border-color2', '#ddd');
    // A canvas font needs an absolute size: the theme's sizes may be relative (em).
    const px = Math.round(
      (parseFloat(getComputedStyle(node).fontSize) || 13) * 0.85
    );
    const font = `${px}px ${cssVar('--jp-ui-font-family', 'sans-serif')}`;
    const axis = (label: string): uPlot.Axis => ({
      label,
      stroke: text,
      font,
      labelFont: font,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 }
    });
    const opts: uPlot.Options = {
      title: props.title,
      width: Math.max(240, node.clientWidth),
      height: props.height ?? 220,
      scales: {
        x: { time: !!props.time },
        y: { distr: props.log ? 3 : 1 }
      },
      axes: [axis(props.xLabel), axis(props.title)],
      series: [
        { label: props.xLabel },
        ...props.lines.map((line, i) => ({
          label: line.label,
          stroke: colours[i % colours.length],
          width: 1.5,
          spanGaps: true,
          // A series of a point or two shows its points; longer ones only their line.
          points: { show: line.points.length <= 2, size: 7 }
        }))
      ],
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      hooks: {
        draw: [() => setDrawn(true)]
      }
    };
    const plot = new uPlot(
      opts,
      align(props.lines, props.smoothing ?? 0, !!props.log),
      node
    );
    const resize = new ResizeObserver(() => {
      const width = Math.max(240, node.clientWidth);
      if (Math.abs(width - plot.width) > 2) {
        plot.setSize({ width, height: plot.height });
      }
    });
    resize.observe(node);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.lines, props.log, props.smoothing, props.time, props.title, theme]);
  return (
    <div
      ref={host}
      className="jp-mlops-linechart"
      data-metric={props.title}
      data-series={props.lines.length}
      data-drawn={drawn ? 'true' : 'false'}
    />
  );
}

/**
 * Parallel coordinates over every filtered run: one axis per chosen parameter or metric, one
 * line per run coloured by a metric; dragging along an axis brushes a range, and the ranges
 * become a filter the runs table applies (``onBrush``). Drawn by ECharts on a canvas.
 */
import type { EChartsType } from 'echarts/core';
import * as React from 'react';

import { EChart } from './echarts';
import { cssVar, palette } from './services';

export interface IAxis {
  /** A column id of the table: ``params.C``, ``metrics.auc``. */
  column: string;
  label: string;
  values: (string | number | null)[];
}

/**
 * What a brushed axis keeps: a numeric range, or the categories it covers. A range dragged to an
 * end of its axis has no bound on that side (null), so the run drawn at the very end stays in.
 */
export type Brush =
  | { column: string; min: number | null; max: number | null }
  | { column: string; values: string[] };

const LAYOUT = { left: 70, right: 110, top: 40, bottom: 30 };

export function asNumber(value: string | number | null): number | null {
  if (value === null || value === '') {
    return null;
  }
  const n = typeof value === 'number' ? value : Number(value);
  return isFinite(n) ? n : null;
}

/** An axis is numeric when every present value reads as a number. */
export function categoriesOf(axis: IAxis): string[] | null {
  const present = axis.values.filter(v => v !== null && v !== '');
  if (present.every(v => asNumber(v) !== null)) {
    return null;
  }
  return Array.from(new Set(present.map(String))).sort();
}

export function ParallelCoordinates(props: {
  axes: IAxis[];
  names: (string | null)[];
  colourBy: string;
  onBrush: (brushes: Brush[]) => void;
  height?: number;
}): JSX.Element {
  const categories = React.useMemo(
    () => props.axes.map(categoriesOf),
    [props.axes]
  );
  const onBrush = React.useRef(props.onBrush);
  onBrush.current = props.onBrush;
  const axesRef = React.useRef({ axes: props.axes, categories });
  axesRef.current = { axes: props.axes, categories };

  const option = () => {
    const text = cssVar('--jp-ui-font-color1', '#000');
    const line = cssVar('--jp-border-color1', '#999');
    const colours = palette();
    const colourIndex = props.axes.findIndex(a => a.column === props.colourBy);
    const colourValues =
      colourIndex >= 0
        ? props.axes[colourIndex].values
            .map(asNumber)
            .filter((v): v is number => v !== null)
        : [];
    const rows = props.names.map((_, r) =>
      props.axes.map((axis, a) => {
        const value = axis.values[r];
        if (categories[a]) {
          return value === null ? null : String(value);
        }
        return asNumber(value);
      })
    );
    return {
      animation: false,
      parallel: {
        ...LAYOUT,
        parallelAxisDefault: {
          nameLocation: 'start',
          nameGap: 18,
          nameTextStyle: { color: text },
          axisLine: { lineStyle: { color: line } },
          axisTick: { lineStyle: { color: line } },
          axisLabel: { color: text },
          areaSelectStyle: { width: 24, opacity: 0.35 }
        }
      },
      parallelAxis: props.axes.map((axis, i) => ({
        dim: i,
        name: axis.label,
        ...(categories[i]
          ? { type: 'category', data: categories[i] }
          : { type: 'value', scale: true })
      })),
      visualMap:
        colourIndex >= 0 && colourValues.length > 0
          ? {
              type: 'continuous',
              dimension: colourIndex,
              min: Math.min(...colourValues),
              max: Math.max(...colourValues),
              right: 4,
              top: LAYOUT.top,
              calculable: false,
              text: [props.colourBy, ''],
              textStyle: { color: text },
              inRange: { color: [colours[0], colours[1]] }
            }
          : undefined,
      series: [
        {
          type: 'parallel',
          data: rows,
          lineStyle: { width: 1, opacity: 0.6 },
          inactiveOpacity: 0.04,
          activeOpacity: 0.9,
          progressive: 1000,
          silent: true
        }
      ]
    };
  };

  const setup = (chart: EChartsType) => {
    // Each axis's drawn range, for whoever needs to place a brush by value (screen readers, tests).
    chart.on('finished', () => {
      if (chart.isDisposed()) {
        return;
      }
      const model = (chart as any).getModel?.();
      if (!model) {
        return; // between a dispose and the last frame
      }
      const extents = axesRef.current.axes.map((_, i) => {
        const axis = model.getComponent('parallelAxis', i)?.axis;
        return axis ? axis.scale.getExtent() : null;
      });
      chart.getDom().dataset.extents = JSON.stringify(extents);
    });
    chart.on('axisareaselected', () => {
      const { axes, categories } = axesRef.current;
      const brushes: Brush[] = [];
      axes.forEach((axis, i) => {
        const model = (chart as any)
          .getModel?.()
          ?.getComponent('parallelAxis', i);
        const intervals: [number, number][] = model?.activeIntervals ?? [];
        if (intervals.length === 0) {
          return;
        }
        const [lo, hi] = intervals[0];
        const cats = categories[i];
        if (cats) {
          const from = Math.ceil(Math.min(lo, hi));
          const to = Math.floor(Math.max(lo, hi));
          brushes.push({
            column: axis.column,
            values: cats.slice(Math.max(0, from), to + 1)
          });
        } else {
          // A brush reaching an axis end is clamped to it, where a float may fall just short of the
          // value drawn there: past the end means no bound at all.
          const [low, high] = model.axis.scale.getExtent() as [number, number];
          const min = Math.min(lo, hi);
          const max = Math.max(lo, hi);
          brushes.push({
            column: axis.column,
            min: min <= low ? null : min,
            max: max >= high ? null : max
          });
        }
      });
      onBrush.current(brushes);
    });
  };

  return (
    <EChart
      className="jp-mlops-parallel"
      height={props.height ?? 300}
      option={option}
      setup={setup}
      deps={[props.axes, props.names, props.colourBy, categories]}
      attrs={{
        axes: props.axes.length,
        lines: props.names.length,
        left: LAYOUT.left,
        right: LAYOUT.right,
        top: LAYOUT.top,
        bottom: LAYOUT.bottom
      }}
    />
  );
}

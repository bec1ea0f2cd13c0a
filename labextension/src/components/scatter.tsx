/**
 * A parameter or metric (x) against a metric (y) over every run the table's filter keeps, not
 * only the ticked ones: one point per run with both values, its name and values on hover, and
 * a click opens the run. A numeric x is a value axis; text values are categories in text order.
 * Drawn by ECharts on a canvas, so the points are mirrored in a visually hidden list (name,
 * values and where each is drawn) for screen readers and tests.
 */
import type { EChartsType } from 'echarts/core';
import * as React from 'react';

import { IColumnValues, fmt } from '../api';
import { EChart } from './echarts';
import { asNumber, categoriesOf } from './parallel';
import { cssVar, palette } from './services';

const LAYOUT = { left: 64, right: 24, top: 28, bottom: 48 };
const MARGIN = { type: 'value', scale: true, boundaryGap: ['8%', '8%'] };

interface IPoint {
  run: number;
  x: number;
  y: number;
}

function label(column: string): string {
  return column.replace(/^(params|metrics)\./, '');
}

export function ScatterChart(props: {
  x: string;
  y: string;
  values: IColumnValues;
  onOpen: (runId: string) => void;
  height?: number;
}): JSX.Element {
  const { x, y, values } = props;
  const mirror = React.useRef<HTMLUListElement>(null);
  const { points, categories } = React.useMemo(() => {
    const xs = values.columns[x] ?? [];
    const ys = values.columns[y] ?? [];
    const categories = categoriesOf({ column: x, label: x, values: xs });
    const points: IPoint[] = [];
    values.run_ids.forEach((_, run) => {
      const value = asNumber(ys[run] ?? null);
      const raw = xs[run] ?? null;
      const present = raw !== null && raw !== '';
      const place = !present
        ? null
        : categories
          ? categories.indexOf(String(raw))
          : asNumber(raw);
      if (value !== null && place !== null) {
        points.push({ run, x: place, y: value });
      }
    });
    return { points, categories };
  }, [values, x, y]);
  const latest = React.useRef({
    points,
    values,
    categories,
    onOpen: props.onOpen
  });
  latest.current = { points, values, categories, onOpen: props.onOpen };

  const option = () => {
    const text = cssVar('--jp-ui-font-color1', '#000');
    const grid = cssVar('--jp-border-color2', '#ddd');
    const axis = (name: string) => ({
      name,
      nameLocation: 'middle',
      nameTextStyle: { color: text },
      axisLabel: { color: text },
      axisLine: { lineStyle: { color: grid } },
      splitLine: { lineStyle: { color: grid } }
    });
    return {
      animation: false,
      grid: LAYOUT,
      tooltip: {
        trigger: 'item',
        // An element, not HTML: run names and values are shown as text, never parsed.
        formatter: (p: { dataIndex: number }) => tooltip(p.dataIndex)
      },
      // A margin around the values, so no point sits on an axis.
      xAxis: categories
        ? { ...axis(label(x)), nameGap: 28, type: 'category', data: categories }
        : { ...axis(label(x)), nameGap: 28, ...MARGIN },
      yAxis: { ...axis(label(y)), nameGap: 48, ...MARGIN },
      series: [
        {
          type: 'scatter',
          symbolSize: 9,
          cursor: 'pointer',
          data: points.map(p => [p.x, p.y]),
          itemStyle: { color: palette()[0], opacity: 0.8 },
          emphasis: { scale: 1.6 }
        }
      ]
    };
  };

  const tooltip = (index: number): HTMLElement => {
    const { points, values } = latest.current;
    const point = points[index];
    const box = document.createElement('div');
    box.className = 'jp-mlops-scatter-tip';
    const name = document.createElement('b');
    name.textContent = values.names[point.run] ?? values.run_ids[point.run];
    box.appendChild(name);
    for (const column of [x, y]) {
      const line = document.createElement('div');
      line.textContent = `${label(column)}: ${fmt(values.columns[column]?.[point.run])}`;
      box.appendChild(line);
    }
    return box;
  };

  const setup = (chart: EChartsType) => {
    chart.on('click', (event: { dataIndex?: number }) => {
      const { points, values, onOpen } = latest.current;
      const point = points[event.dataIndex ?? -1];
      if (point) {
        onOpen(values.run_ids[point.run]);
      }
    });
    chart.on('finished', () => {
      // No model yet (a first resize before the option) or any more (between a dispose and the last frame).
      const drawn = !chart.isDisposed() && (chart as any).getModel?.();
      if (drawn && mirror.current) {
        mirrorPoints(chart, mirror.current);
      }
    });
  };

  const mirrorPoints = (chart: EChartsType, list: HTMLUListElement) => {
    const { points, values } = latest.current;
    list.replaceChildren(
      ...points.map(point => {
        const li = document.createElement('li');
        const [px, py] = chart.convertToPixel({ seriesIndex: 0 }, [
          point.x,
          point.y
        ]) as number[];
        li.dataset.run = values.run_ids[point.run];
        li.dataset.x = String(Math.round(px));
        li.dataset.y = String(Math.round(py));
        li.textContent = `${values.names[point.run] ?? values.run_ids[point.run]}: ${label(x)} ${fmt(
          values.columns[x]?.[point.run]
        )}, ${label(y)} ${fmt(values.columns[y]?.[point.run])}`;
        return li;
      })
    );
  };

  const missing = values.run_ids.length - points.length;
  return (
    <div className="jp-mlops-scatter-host">
      {missing > 0 && (
        <div className="jp-mlops-muted jp-mlops-scatter-missing">
          {missing} of {values.run_ids.length} runs not drawn: no {label(x)} or
          no {label(y)}
        </div>
      )}
      <EChart
        className="jp-mlops-scatter"
        height={props.height ?? 300}
        option={option}
        setup={setup}
        deps={[points, categories, x, y]}
        attrs={{
          x,
          y,
          points: points.length,
          axis: categories ? 'category' : 'value'
        }}
      />
      <ul
        ref={mirror}
        className="jp-mlops-scatter-points"
        aria-label={`${label(y)} against ${label(x)}, one point per run`}
      />
    </div>
  );
}

/**
 * A metric logged once per run (a final score) as one bar per run, named by run (ECharts).
 */
import * as React from 'react';

import { EChart } from './echarts';
import { cssVar, palette } from './services';

export function BarChart(props: {
  title: string;
  bars: { label: string; value: number | null }[];
  log?: boolean;
  height?: number;
}): JSX.Element {
  const option = () => {
    const text = cssVar('--jp-ui-font-color1', '#000');
    const grid = cssVar('--jp-border-color2', '#ddd');
    const colour = palette()[0];
    return {
      animation: false,
      grid: { left: 60, right: 16, top: 28, bottom: 70 },
      tooltip: { trigger: 'item' },
      xAxis: {
        type: 'category',
        data: props.bars.map(b => b.label),
        axisLabel: {
          color: text,
          rotate: 30,
          interval: 0,
          width: 90,
          overflow: 'truncate'
        },
        axisLine: { lineStyle: { color: grid } }
      },
      yAxis: {
        type: props.log ? 'log' : 'value',
        name: props.title,
        nameTextStyle: { color: text },
        axisLabel: { color: text },
        splitLine: { lineStyle: { color: grid } },
        scale: true
      },
      series: [
        {
          type: 'bar',
          name: props.title,
          data: props.bars.map(b => b.value),
          itemStyle: { color: colour }
        }
      ]
    };
  };
  return (
    <EChart
      className="jp-mlops-barchart"
      height={props.height ?? 240}
      option={option}
      deps={[props.bars, props.log, props.title]}
      attrs={{ metric: props.title, bars: props.bars.length }}
    />
  );
}

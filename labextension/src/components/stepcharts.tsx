/**
 * One line chart per metric against step, every run a line, all metrics from one series request:
 * the Run view (one run) and the Compare view (the runs compared, each keeping its colour with
 * or without points for a metric).
 */
import * as React from 'react';

import { runLabel } from '../api';
import { LineChart } from './linechart';
import { useSeries } from './useseries';

export function StepCharts(props: {
  metrics: string[];
  runIds: string[];
  maxPoints: number;
  tick: number;
}): JSX.Element {
  const { replies } = useSeries(
    props.metrics,
    { run_ids: props.runIds.join(','), max_points: props.maxPoints },
    props.tick
  );
  return (
    <div className="jp-mlops-charts">
      {props.metrics.map(metric => {
        const reply = replies[metric];
        if (!reply) {
          return (
            <div key={metric} className="jp-mlops-chart-placeholder">
              {metric}…
            </div>
          );
        }
        const lines = reply.runs.map(r => ({
          label: runLabel(r),
          points: r.points.map(p => [p[0], p[1]] as [number, number | null])
        }));
        return (
          <LineChart
            key={metric}
            title={metric}
            lines={lines}
            xLabel="step"
            height={200}
          />
        );
      })}
    </div>
  );
}

/**
 * Compare view (main area): parameter diff with differences highlighted, one overlaid chart per
 * metric, and parallel coordinates of the parameters against a chosen metric.
 */
import * as React from 'react';

import { IMetricSeries, IRunDetail, fmt, requestAPI, short } from '../api';
import { LineChart, PALETTE, ParallelCoordinates, StatusBadge } from '../charts';

const MAX_POINTS = 400;

export function CompareView(props: { runIds: string[] }): JSX.Element {
  const [runs, setRuns] = React.useState<IRunDetail[]>([]);
  const [series, setSeries] = React.useState<Record<string, IMetricSeries[]>>({});
  const [metric, setMetric] = React.useState<string>('');
  const [onlyDiffs, setOnlyDiffs] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);

  React.useEffect(() => {
    Promise.all(props.runIds.map(id => requestAPI<IRunDetail>(`runs/${id}`)))
      .then(async details => {
        setRuns(details);
        const keys = Array.from(new Set(details.flatMap(d => Object.keys(d.metrics)))).sort();
        setMetric(m => m || keys[0] || '');
        const bykey: Record<string, IMetricSeries[]> = {};
        await Promise.all(
          keys.map(async key => {
            bykey[key] = await Promise.all(
              details
                .filter(d => key in d.metrics)
                .map(d => requestAPI<IMetricSeries>(`runs/${d.run_id}/metrics/${encodeURIComponent(key)}`, {}, { max_points: MAX_POINTS }))
            );
          })
        );
        setSeries(bykey);
      })
      .catch(e => setError(e.message));
  }, [props.runIds.join(',')]);

  if (error) {
    return <div className="jp-mlops-error">{error}</div>;
  }
  const label = (r: IRunDetail) => r.name ?? short(r.run_id);
  const paramKeys = Array.from(new Set(runs.flatMap(r => Object.keys(r.params)))).sort();
  const differs = (k: string) => new Set(runs.map(r => r.params[k] ?? null)).size > 1;
  const shown = onlyDiffs ? paramKeys.filter(differs) : paramKeys;
  const metricKeys = Object.keys(series).sort();
  const varying = paramKeys.filter(differs);
  const axes = [...(varying.length ? varying : paramKeys), ...(metric ? [`metric: ${metric}`] : [])];
  const pcRows = runs.map(r => ({
    label: label(r),
    values: [
      ...(varying.length ? varying : paramKeys).map(k => r.params[k] ?? null),
      ...(metric ? [r.metrics[metric] ?? null] : [])
    ]
  }));

  return (
    <div className="jp-mlops-view jp-mlops-compare-view">
      <h2>Compare {runs.length} runs</h2>
      <div className="jp-mlops-legend">
        {runs.map((r, i) => (
          <span key={r.run_id} className="jp-mlops-legend-item">
            <span className="jp-mlops-swatch" style={{ background: PALETTE[i % PALETTE.length] }} />
            {label(r)} <StatusBadge status={r.status} />
          </span>
        ))}
      </div>
      <h3>Parameters</h3>
      <label className="jp-mlops-check">
        <input type="checkbox" checked={onlyDiffs} onChange={() => setOnlyDiffs(x => !x)} /> only differences
      </label>
      <table className="jp-mlops-table jp-mlops-param-diff">
        <thead>
          <tr>
            <th>param</th>
            {runs.map(r => (
              <th key={r.run_id}>{label(r)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map(k => (
            <tr key={k} data-param={k} className={differs(k) ? 'jp-mlops-differs' : ''}>
              <td>{k}</td>
              {runs.map(r => (
                <td key={r.run_id}>{fmt(r.params[k])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Metrics</h3>
      <table className="jp-mlops-table jp-mlops-metric-table">
        <thead>
          <tr>
            <th>metric (latest)</th>
            {runs.map(r => (
              <th key={r.run_id}>{label(r)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {metricKeys.map(k => (
            <tr key={k}>
              <td>{k}</td>
              {runs.map(r => (
                <td key={r.run_id} className="jp-mlops-num">
                  {fmt(r.metrics[k])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <div className="jp-mlops-charts">
        {metricKeys.map(k => (
          <LineChart
            key={k}
            title={k}
            series={runs
              .map(r => series[k].find(s => s.run_id === r.run_id))
              .map((s, i) => ({
                label: label(runs[i]),
                points: s ? s.points.map(p => [p[0], p[1]] as [number, number | null]) : []
              }))}
          />
        ))}
      </div>
      <h3>Parallel coordinates</h3>
      <label>
        metric{' '}
        <select value={metric} onChange={e => setMetric(e.target.value)}>
          {metricKeys.map(k => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
      </label>
      {axes.length > 0 && <ParallelCoordinates axes={axes} rows={pcRows} />}
    </div>
  );
}

/**
 * The Experiment view's charts, over the runs the table shows (its filter and order; the
 * selected runs when some are selected): a line chart per metric against step or time with
 * smoothing and log scale, a bar chart for a metric each run logged once, a scatter of a
 * parameter or metric against a metric and parallel coordinates, both over *every* filtered
 * run (the parallel coordinates' brushed ranges filter the table).
 */
import * as React from 'react';

import {
  IColumnKeys,
  IColumnValues,
  ISeriesReply,
  filterKey,
  runLabel
} from '../api';
import { BarChart } from './barchart';
import { ErrorLine } from './common';
import { ILine, LineChart } from './linechart';
import { Brush, IAxis, ParallelCoordinates } from './parallel';
import { ScatterChart } from './scatter';
import { useLiveTick, useServices } from './services';
import { useLiveReply } from './uselivereply';
import { useSeries } from './useseries';
import { ITableQuery } from './runsgrid';

export type XAxis = 'step' | 'relative' | 'wall';
const MAX_AXES = 10;

function tableQuery(query: ITableQuery) {
  return {
    experiment: query.experiment ?? undefined,
    filter: query.filter || undefined,
    sort: query.sort ?? undefined,
    order: query.sort ? (query.descending ? 'desc' : 'asc') : undefined
  };
}

function linesOf(reply: ISeriesReply, x: XAxis): ILine[] {
  return reply.runs.map(run => {
    const start = run.points.length ? run.points[0][2] : 0;
    return {
      label: runLabel(run),
      points: run.points.map(([step, value, ts]) => [
        x === 'step'
          ? step
          : x === 'relative'
            ? (ts - start) / 1000
            : ts / 1000,
        value
      ])
    };
  });
}

/**
 * Points asked per run: 500 for a few runs, fewer as runs are added, so one chart holds at most
 * ~20k points (100 runs at 200 each: 100 min/max buckets, a bucket per ~4 px of a panel-wide chart,
 * where 100 lines overlap anyway). Fetching, sending and drawing all scale with it.
 */
function pointsPerRun(runs: number): number {
  return Math.max(100, Math.min(500, Math.floor(20000 / Math.max(runs, 1))));
}

/** One metric: lines when runs logged series, bars when each run logged one value. */
function MetricChart(props: {
  metric: string;
  reply: ISeriesReply | undefined;
  x: XAxis;
  smoothing: number;
  log: boolean;
}): JSX.Element {
  const { metric, reply } = props;
  const lines = React.useMemo(
    () => (reply ? linesOf(reply, props.x) : []),
    [reply, props.x]
  );
  if (!reply) {
    return <div className="jp-mlops-chart-placeholder">{metric}…</div>;
  }
  const single = reply.runs.every(r => r.total <= 1);
  if (single) {
    const bars = reply.runs
      .filter(r => r.total > 0)
      .map(r => ({ label: runLabel(r), value: r.points[0]?.[1] ?? null }));
    return <BarChart title={metric} bars={bars} log={props.log} />;
  }
  const xLabel =
    props.x === 'step'
      ? 'step'
      : props.x === 'relative'
        ? 'seconds since start'
        : 'time';
  return (
    <LineChart
      title={metric}
      lines={lines}
      xLabel={xLabel}
      time={props.x === 'wall'}
      log={props.log}
      smoothing={props.smoothing}
    />
  );
}

/** One point per run the table's filter keeps: x any param or metric, y a metric. */
function Scatter(props: {
  keys: IColumnKeys;
  query: ITableQuery;
  tick: number;
}): JSX.Element | null {
  const { open } = useServices();
  const { params, metrics } = props.keys;
  const [xChoice, setX] = React.useState<string | null>(null);
  const [yChoice, setY] = React.useState<string | null>(null);
  const columns = [
    ...params.map(k => `params.${k}`),
    ...metrics.map(k => `metrics.${k}`)
  ];
  const x =
    xChoice && columns.includes(xChoice) ? xChoice : (columns[0] ?? null);
  const y =
    yChoice && metrics.includes(yChoice.slice(8))
      ? yChoice
      : metrics.length
        ? `metrics.${metrics[0]}`
        : null;
  const { reply: values, error } = useLiveReply<IColumnValues>(
    'table/values',
    x && y
      ? { columns: JSON.stringify([x, y]), ...tableQuery(props.query) }
      : null,
    props.tick
  );
  if (!x || !y) {
    return null;
  }
  const shown = values && values.columns[x] && values.columns[y];
  return (
    <>
      <h3>
        Scatter{' '}
        <span className="jp-mlops-muted">
          {values
            ? `${values.run_ids.length} runs${values.truncated ? ' (first ones only)' : ''}`
            : ''}{' '}
          · click a point to open its run
        </span>
      </h3>
      <div className="jp-mlops-toolbar jp-mlops-scatter-controls">
        x{' '}
        <select
          aria-label="scatter x"
          className="jp-mlops-scatter-x"
          value={x}
          onChange={e => setX(e.target.value)}
        >
          <optgroup label="params">
            {params.map(k => (
              <option key={k} value={`params.${k}`}>
                {k}
              </option>
            ))}
          </optgroup>
          <optgroup label="metrics">
            {metrics.map(k => (
              <option key={k} value={`metrics.${k}`}>
                {k}
              </option>
            ))}
          </optgroup>
        </select>{' '}
        y{' '}
        <select
          aria-label="scatter y"
          className="jp-mlops-scatter-y"
          value={y}
          onChange={e => setY(e.target.value)}
        >
          {metrics.map(k => (
            <option key={k} value={`metrics.${k}`}>
              {k}
            </option>
          ))}
        </select>
      </div>
      <ErrorLine error={error} />
      {shown && <ScatterChart x={x} y={y} values={values} onOpen={open.run} />}
    </>
  );
}

export function ChartsPanel(props: {
  keys: IColumnKeys;
  /** The table's query without the brushed ranges (parallel coordinates show all of it). */
  baseQuery: ITableQuery;
  /** The table's query as shown (with the brushed ranges). */
  query: ITableQuery;
  selection: string[];
  onBrush: (brushes: Brush[]) => void;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const tick = useLiveTick(ref);
  const [chosen, setChosen] = React.useState<string[] | null>(null);
  const [x, setX] = React.useState<XAxis>('step');
  const [smoothing, setSmoothing] = React.useState(0);
  const [log, setLog] = React.useState(false);
  const [limit, setLimit] = React.useState(20);
  const [colourBy, setColourBy] = React.useState<string | null>(null);

  const metrics = chosen ?? props.keys.metrics.slice(0, 6);
  const runs = props.selection.length || limit;
  const seriesArgs = props.selection.length
    ? { run_ids: props.selection.join(',') }
    : { limit, ...tableQuery(props.query) };
  const series = useSeries(
    metrics,
    { ...seriesArgs, max_points: pointsPerRun(runs) },
    tick
  );
  const colour =
    colourBy ??
    (props.keys.metrics[0] ? `metrics.${props.keys.metrics[0]}` : '');
  const axisColumns = React.useMemo(() => {
    const params = props.keys.params
      .slice(0, MAX_AXES - 1)
      .map(k => `params.${k}`);
    return colour ? [...params.filter(c => c !== colour), colour] : params;
  }, [props.keys, colour]);

  const { reply: values, error } = useLiveReply<IColumnValues>(
    'table/values',
    axisColumns.length
      ? {
          columns: JSON.stringify(axisColumns),
          ...tableQuery(props.baseQuery)
        }
      : null,
    tick
  );

  const axes: IAxis[] = React.useMemo(
    () =>
      values
        ? axisColumns.map(column => ({
            column,
            label: column.replace(/^(params|metrics)\./, ''),
            values: values.columns[column] ?? []
          }))
        : [],
    [values, axisColumns]
  );

  const toggleMetric = (key: string) =>
    setChosen(
      metrics.includes(key) ? metrics.filter(k => k !== key) : [...metrics, key]
    );

  return (
    <div ref={ref} className="jp-mlops-charts-panel">
      <div className="jp-mlops-toolbar jp-mlops-chart-controls">
        <span className="jp-mlops-muted">
          {props.selection.length
            ? `${props.selection.length} selected runs`
            : `first ${limit} runs of the table`}
        </span>
        {!props.selection.length && (
          <select
            aria-label="runs charted"
            value={limit}
            onChange={e => setLimit(Number(e.target.value))}
          >
            {[10, 20, 50, 100, 200].map(n => (
              <option key={n} value={n}>
                {n} runs
              </option>
            ))}
          </select>
        )}
        <select
          aria-label="x axis"
          className="jp-mlops-x-axis"
          value={x}
          onChange={e => setX(e.target.value as XAxis)}
        >
          <option value="step">step</option>
          <option value="relative">time since start</option>
          <option value="wall">wall time</option>
        </select>
        <label className="jp-mlops-check">
          smoothing{' '}
          <input
            type="range"
            aria-label="smoothing"
            className="jp-mlops-smoothing"
            min={0}
            max={0.99}
            step={0.01}
            value={smoothing}
            onChange={e => setSmoothing(Number(e.target.value))}
          />{' '}
          {smoothing.toFixed(2)}
        </label>
        <label className="jp-mlops-check">
          <input
            type="checkbox"
            className="jp-mlops-log"
            checked={log}
            onChange={() => setLog(l => !l)}
          />{' '}
          log scale
        </label>
      </div>
      <div className="jp-mlops-toolbar jp-mlops-metric-picker">
        metrics:
        {props.keys.metrics.map(key => (
          <label key={key} className="jp-mlops-check" data-metric={key}>
            <input
              type="checkbox"
              checked={metrics.includes(key)}
              onChange={() => toggleMetric(key)}
            />{' '}
            {key}
          </label>
        ))}
      </div>
      <ErrorLine error={series.error} />
      <div className="jp-mlops-charts" data-answered={series.answered}>
        {metrics.map(metric => (
          <MetricChart
            key={metric}
            metric={metric}
            reply={series.replies[metric]}
            x={x}
            smoothing={smoothing}
            log={log}
          />
        ))}
      </div>
      <Scatter keys={props.keys} query={props.query} tick={tick} />
      <h3>
        Parallel coordinates{' '}
        <span className="jp-mlops-muted">
          {values
            ? `${values.run_ids.length} runs${values.truncated ? ' (first ones only)' : ''}`
            : ''}{' '}
          · drag along an axis to filter the table
        </span>
      </h3>
      <div className="jp-mlops-toolbar">
        colour by{' '}
        <select
          aria-label="colour by"
          className="jp-mlops-colour-by"
          value={colour}
          onChange={e => setColourBy(e.target.value)}
        >
          {props.keys.metrics.map(k => (
            <option key={k} value={`metrics.${k}`}>
              {k}
            </option>
          ))}
        </select>
      </div>
      <ErrorLine error={error} />
      {values && axes.length > 1 && (
        <ParallelCoordinates
          axes={axes}
          names={values.names}
          colourBy={colour}
          onBrush={props.onBrush}
        />
      )}
    </div>
  );
}

/** The brushed ranges as a clause of the filter language. */
export function brushFilter(brushes: Brush[]): string {
  return brushes
    .map(brush => {
      const dot = brush.column.indexOf('.');
      const key = filterKey(
        brush.column.slice(0, dot),
        brush.column.slice(dot + 1)
      );
      if ('values' in brush) {
        const list = brush.values
          .map(v => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`)
          .join(', ');
        return brush.values.length
          ? `${key} IN (${list})`
          : `${key} IS NULL AND ${key} IS NOT NULL`;
      }
      const bounds = [
        brush.min === null ? '' : `${key} >= ${brush.min}`,
        brush.max === null ? '' : `${key} <= ${brush.max}`
      ].filter(Boolean);
      // A brush over a whole axis keeps the runs that have a value there.
      return bounds.length ? bounds.join(' AND ') : `${key} IS NOT NULL`;
    })
    .join(' AND ');
}

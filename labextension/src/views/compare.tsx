/**
 * Compare view (main area): up to 20 runs side by side: parameters and latest metrics with the
 * differences highlighted, one overlaid chart per metric, and the notebook diff of two of them.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IRunDetail, fmt, requestAPI, runLabel, short } from '../api';
import { ErrorLine, Link, Loading, StatusBadge } from '../components/common';
import { StepCharts } from '../components/stepcharts';
import {
  IServices,
  ServicesContext,
  palette,
  useServices,
  useTheme
} from '../components/services';
import { NotebookDiff } from './nbdiff';

export const MAX_COMPARED = 20;

function differs(values: unknown[]): boolean {
  return new Set(values.map(v => (v === undefined ? null : v))).size > 1;
}

function DiffTable(props: {
  title: string;
  kind: 'param' | 'metric';
  runs: IRunDetail[];
  keys: string[];
  value: (run: IRunDetail, key: string) => unknown;
  onlyDiffs: boolean;
}): JSX.Element {
  const shown = props.onlyDiffs
    ? props.keys.filter(k => differs(props.runs.map(r => props.value(r, k))))
    : props.keys;
  return (
    <table className={`jp-mlops-table jp-mlops-${props.kind}-diff`}>
      <thead>
        <tr>
          <th>{props.title}</th>
          {props.runs.map(r => (
            <th key={r.run_id}>{runLabel(r)}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {shown.map(k => {
          const values = props.runs.map(r => props.value(r, k));
          return (
            <tr
              key={k}
              data-key={k}
              className={differs(values) ? 'jp-mlops-differs' : ''}
            >
              <td>{k}</td>
              {values.map((v, i) => (
                <td
                  key={props.runs[i].run_id}
                  className={typeof v === 'number' ? 'jp-mlops-num' : ''}
                >
                  {fmt(v)}
                </td>
              ))}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function ComparePage(props: {
  runIds: string[];
  onTitle: (runs: IRunDetail[]) => void;
}): JSX.Element {
  const { open } = useServices();
  useTheme();
  const [runs, setRuns] = React.useState<IRunDetail[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [onlyDiffs, setOnlyDiffs] = React.useState(false);
  const [chosenPair, setPair] = React.useState<[string, string] | null>(null);
  React.useEffect(() => {
    Promise.all(
      props.runIds
        .slice(0, MAX_COMPARED)
        .map(id => requestAPI<IRunDetail>(`runs/${id}`))
    )
      .then(details => {
        setRuns(details);
        props.onTitle(details);
      })
      .catch(e => setError(e.message));
  }, [props.runIds.join(',')]);
  if (error) {
    return <ErrorLine error={error} />;
  }
  if (!runs) {
    return <Loading />;
  }
  const colours = palette();
  const paramKeys = Array.from(
    new Set(runs.flatMap(r => Object.keys(r.params)))
  ).sort();
  const metricKeys = Array.from(
    new Set(runs.flatMap(r => Object.keys(r.metric_summary)))
  ).sort();
  // Older first: the diff reads as what changed since.
  const withNotebook = runs
    .filter(r => r.notebook)
    .sort((a, b) => a.start_time - b.start_time);
  const pair: [string, string] = chosenPair ?? [
    withNotebook[0]?.run_id ?? '',
    withNotebook[1]?.run_id ?? ''
  ];
  return (
    <div className="jp-mlops-view jp-mlops-compare-view">
      <h2 className="jp-mlops-title">Compare {runs.length} runs</h2>
      <div className="jp-mlops-legend">
        {runs.map((r, i) => (
          <span
            key={r.run_id}
            className="jp-mlops-legend-item"
            data-run={r.run_id}
          >
            <span
              className="jp-mlops-swatch"
              style={{ background: colours[i % colours.length] }}
            />
            <Link onClick={() => open.run(r.run_id)}>{runLabel(r)}</Link>{' '}
            <StatusBadge status={r.status} />
          </span>
        ))}
      </div>
      <label className="jp-mlops-check">
        <input
          type="checkbox"
          className="jp-mlops-only-diffs"
          checked={onlyDiffs}
          onChange={() => setOnlyDiffs(x => !x)}
        />{' '}
        only differences
      </label>
      <h3>Parameters</h3>
      <DiffTable
        title="param"
        kind="param"
        runs={runs}
        keys={paramKeys}
        value={(r, k) => r.params[k]}
        onlyDiffs={onlyDiffs}
      />
      <h3>Metrics (latest)</h3>
      <DiffTable
        title="metric"
        kind="metric"
        runs={runs}
        keys={metricKeys}
        value={(r, k) => r.metrics[k]}
        onlyDiffs={onlyDiffs}
      />
      <h3>Charts</h3>
      <StepCharts
        metrics={metricKeys}
        runIds={runs.map(r => r.run_id)}
        maxPoints={500}
        tick={0}
      />
      <h3>Notebook diff</h3>
      {withNotebook.length < 2 ? (
        <div className="jp-mlops-empty">
          Fewer than two of these runs have a notebook snapshot.
        </div>
      ) : (
        <>
          <div className="jp-mlops-toolbar">
            {[0, 1].map(side => (
              <select
                key={side}
                aria-label={side === 0 ? 'diff from' : 'diff to'}
                value={pair[side]}
                onChange={e =>
                  setPair(
                    side === 0
                      ? [e.target.value, pair[1]]
                      : [pair[0], e.target.value]
                  )
                }
              >
                {withNotebook.map(r => (
                  <option key={r.run_id} value={r.run_id}>
                    {runLabel(r)} ({short(r.run_id)})
                  </option>
                ))}
              </select>
            ))}
          </div>
          {pair[0] && pair[1] && pair[0] !== pair[1] && (
            <NotebookDiff a={pair[0]} b={pair[1]} />
          )}
        </>
      )}
    </div>
  );
}

export class CompareView extends ReactWidget {
  constructor(
    private readonly services: IServices,
    readonly runIds: string[],
    private readonly onTitle: (runs: IRunDetail[]) => void
  ) {
    super();
    this.addClass('jp-mlops-main');
  }

  get args(): { ids: string[] } {
    return { ids: this.runIds };
  }

  render(): JSX.Element {
    return (
      <ServicesContext.Provider value={this.services}>
        <ComparePage runIds={this.runIds} onTitle={this.onTitle} />
      </ServicesContext.Provider>
    );
  }
}

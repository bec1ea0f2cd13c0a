/**
 * Experiments panel: the runs table (server-side paging, sorting and filtering), live while runs
 * are RUNNING, with compare / notebook-diff / open-notebook actions on the selected runs.
 */
import * as React from 'react';

import { IRunsPage, IRunRow, fmt, requestAPI, short, when } from '../api';
import { StatusBadge } from '../charts';
import { RefreshBar } from '../components';
import { IPanelSettings, IViewActions } from './common';

/** A sort key in the filter language; odd metric / param names are quoted with backticks. */
function sortKey(kind: 'metrics' | 'params' | null, key: string): string {
  return kind ? `${kind}.\`${key}\`` : key;
}

export function ExperimentsPanel(props: {
  settings: IPanelSettings;
  actions: IViewActions;
}): JSX.Element {
  const [experiments, setExperiments] = React.useState<string[]>([]);
  const [experiment, setExperiment] = React.useState('');
  const [draft, setDraft] = React.useState('');
  const [filter, setFilter] = React.useState('');
  const [sort, setSort] = React.useState<{ key: string; desc: boolean } | null>(null);
  const [page, setPage] = React.useState(0);
  const [data, setData] = React.useState<IRunsPage | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [selected, setSelected] = React.useState<string[]>([]);
  const [tick, setTick] = React.useState(0);

  React.useEffect(() => {
    requestAPI<{ experiments: { name: string }[] }>('experiments')
      .then(r => setExperiments(r.experiments.map(e => e.name)))
      .catch(() => undefined);
  }, [tick]);

  React.useEffect(() => {
    let cancelled = false;
    requestAPI<IRunsPage>('runs', {}, {
      experiment,
      filter,
      sort: sort?.key,
      order: sort ? (sort.desc ? 'desc' : 'asc') : undefined,
      page,
      page_size: props.settings.pageSize
    })
      .then(r => {
        if (!cancelled) {
          setData(r);
          setError(null);
        }
      })
      .catch(e => !cancelled && setError(e.message));
    return () => {
      cancelled = true;
    };
  }, [experiment, filter, sort, page, props.settings.pageSize, tick]);

  // Live refresh: poll while any run on the page is RUNNING.
  React.useEffect(() => {
    if (!data?.any_running) {
      return;
    }
    const timer = window.setTimeout(() => setTick(t => t + 1), props.settings.refreshInterval * 1000);
    return () => window.clearTimeout(timer);
  }, [data, props.settings.refreshInterval]);

  const toggle = (id: string) =>
    setSelected(s => (s.includes(id) ? s.filter(x => x !== id) : [...s, id]));
  const sortBy = (key: string) => {
    setSort(s => (s && s.key === key ? { key, desc: !s.desc } : { key, desc: true }));
    setPage(0);
  };
  const arrow = (key: string) => (sort?.key === key ? (sort.desc ? ' ▼' : ' ▲') : '');
  const metricKeys = data?.metric_keys ?? [];
  const paramKeys = data?.param_keys ?? [];
  const pages = data ? Math.max(1, Math.ceil(data.total / data.page_size)) : 1;

  const header = (label: string, key: string, title?: string) => (
    <th key={key} onClick={() => sortBy(key)} title={title ?? `sort by ${key}`} className="jp-mlops-sortable">
      {label}
      {arrow(key)}
    </th>
  );

  return (
    <div className="jp-mlops-panel jp-mlops-experiments">
      <RefreshBar onRefresh={() => setTick(t => t + 1)} error={error}>
        <select
          value={experiment}
          onChange={e => {
            setExperiment(e.target.value);
            setPage(0);
          }}
          title="experiment"
        >
          <option value="">all experiments</option>
          {experiments.map(x => (
            <option key={x} value={x}>
              {x}
            </option>
          ))}
        </select>
      </RefreshBar>
      <form
        className="jp-mlops-filter"
        onSubmit={e => {
          e.preventDefault();
          setFilter(draft);
          setPage(0);
        }}
      >
        <input
          className="jp-mlops-filter-input"
          placeholder="filter, e.g. metrics.auc > 0.9 and params.model = 'rf'"
          value={draft}
          onChange={e => setDraft(e.target.value)}
        />
      </form>
      <div className="jp-mlops-toolbar">
        <button
          className="jp-mlops-button jp-mlops-compare"
          disabled={selected.length < 2}
          onClick={() => props.actions.compare(selected)}
        >
          Compare ({selected.length})
        </button>
        <button
          className="jp-mlops-button jp-mlops-diff"
          disabled={selected.length !== 2}
          onClick={() => props.actions.diff(selected[0], selected[1])}
        >
          Notebook diff
        </button>
        {selected.length > 0 && (
          <button className="jp-mlops-button" onClick={() => setSelected([])}>
            Clear
          </button>
        )}
      </div>
      <div className="jp-mlops-table-wrap">
        <table className="jp-mlops-table jp-mlops-runs">
          <thead>
            <tr>
              <th />
              {header('name', 'name')}
              {header('status', 'status')}
              {header('started', 'start_time')}
              {metricKeys.map(k => header(k, sortKey('metrics', k), `metric ${k}`))}
              {paramKeys.map(k => header(k, sortKey('params', k), `param ${k}`))}
              <th />
            </tr>
          </thead>
          <tbody>
            {(data?.runs ?? []).map((run: IRunRow) => (
              <tr key={run.run_id} data-run={run.run_id} className={selected.includes(run.run_id) ? 'jp-mlops-selected' : ''}>
                <td>
                  <input
                    type="checkbox"
                    checked={selected.includes(run.run_id)}
                    onChange={() => toggle(run.run_id)}
                    title={`select ${run.name ?? run.run_id}`}
                  />
                </td>
                <td title={`${run.run_id}\n${run.experiment}`}>{run.name ?? short(run.run_id)}</td>
                <td>
                  <StatusBadge status={run.status} />
                </td>
                <td>{when(run.start_time)}</td>
                {metricKeys.map(k => (
                  <td key={k} className="jp-mlops-num">
                    {fmt(run.metrics[k])}
                  </td>
                ))}
                {paramKeys.map(k => (
                  <td key={k}>{fmt(run.params[k])}</td>
                ))}
                <td>
                  <button
                    className="jp-mlops-link"
                    title="open this run's notebook snapshot"
                    onClick={() => props.actions.openNotebook(run.run_id)}
                  >
                    notebook
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="jp-mlops-pager">
        <button className="jp-mlops-button" disabled={page === 0} onClick={() => setPage(p => p - 1)}>
          ‹
        </button>
        <span>
          page {page + 1} of {pages} · {data?.total ?? 0} runs
          {data?.any_running ? ' · live' : ''}
        </span>
        <button className="jp-mlops-button" disabled={page + 1 >= pages} onClick={() => setPage(p => p + 1)}>
          ›
        </button>
      </div>
    </div>
  );
}

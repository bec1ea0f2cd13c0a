/**
 * Small pieces every view uses: status badges, links that open other views, tabs, key/value
 * tables, an error line. Text always goes in as React text (escaped), never as HTML.
 */
import * as React from 'react';

import { fmt } from '../api';

export function StatusBadge(props: { status: string }): JSX.Element {
  return (
    <span
      className={`jp-mlops-badge jp-mlops-status jp-mlops-status-${props.status.toLowerCase()}`}
      data-status={props.status}
    >
      {props.status}
    </span>
  );
}

export function AliasChip(props: {
  alias: string;
  version?: number;
}): JSX.Element {
  return (
    <span className="jp-mlops-alias" data-alias={props.alias}>
      @{props.alias}
      {props.version !== undefined ? ` → v${props.version}` : ''}
    </span>
  );
}

/** A button that looks like a link and opens another view. */
export function Link(props: {
  onClick: () => void;
  title?: string;
  className?: string;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <button
      className={`jp-mlops-link ${props.className ?? ''}`}
      title={props.title}
      onClick={props.onClick}
    >
      {props.children}
    </button>
  );
}

export function ErrorLine(props: { error: string | null }): JSX.Element | null {
  return props.error ? (
    <div className="jp-mlops-error" role="alert">
      {props.error}
    </div>
  ) : null;
}

export function Loading(): JSX.Element {
  return <div className="jp-mlops-empty">loading…</div>;
}

/** Rows of ``[label, value]``; values are text or elements. */
export function KeyValues(props: {
  rows: [string, React.ReactNode][];
  className?: string;
}): JSX.Element {
  return (
    <table className={`jp-mlops-table jp-mlops-kv ${props.className ?? ''}`}>
      <tbody>
        {props.rows.map(([key, value]) => (
          <tr key={key} data-key={key}>
            <th>{key}</th>
            <td>{typeof value === 'object' ? value : fmt(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Tabs across the top of a view; only the chosen one is rendered. */
export function Tabs(props: {
  tabs: { id: string; label: string; render: () => React.ReactNode }[];
  initial?: string;
}): JSX.Element {
  const [current, setCurrent] = React.useState(
    props.initial ?? props.tabs[0]?.id
  );
  const tab = props.tabs.find(t => t.id === current) ?? props.tabs[0];
  return (
    <div className="jp-mlops-tabs">
      <div className="jp-mlops-tabbar" role="tablist">
        {props.tabs.map(t => (
          <button
            key={t.id}
            role="tab"
            aria-selected={t.id === tab?.id}
            data-tab={t.id}
            className={`jp-mlops-tab ${t.id === tab?.id ? 'jp-mod-current' : ''}`}
            onClick={() => setCurrent(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div className="jp-mlops-tabpanel" role="tabpanel" data-tab={tab?.id}>
        {tab?.render()}
      </div>
    </div>
  );
}

/** Keep a value's previous state until a new one arrives: the hook views use for async loads. */
export function useAsync<T>(
  load: () => Promise<T>,
  deps: React.DependencyList
): { value: T | null; error: string | null; reload: () => void } {
  const [value, setValue] = React.useState<T | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [tick, setTick] = React.useState(0);
  React.useEffect(() => {
    let cancelled = false;
    load()
      .then(v => {
        if (!cancelled) {
          setValue(v);
          setError(null);
        }
      })
      .catch(e => {
        if (!cancelled) {
          setError(e.message ?? String(e));
        }
      });
    return () => {
      cancelled = true;
    };
  }, [...deps, tick]);
  return { value, error, reload: () => setTick(t => t + 1) };
}

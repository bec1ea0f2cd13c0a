/**
 * Dataset view (main area): one dataset of the catalog, every version (fingerprint, source,
 * size, rows, created) with the runs that produced and consumed it (each opens its Run view),
 * the schema changes from the version before (columns added, removed, retyped), the chosen
 * version's columns and profile, and its lineage graph. Live like the other views.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { bytes, fmt, requestAPI, short, when } from '../api';
import { ErrorLine, KeyValues, Link, Loading } from '../components/common';
import {
  IServices,
  ServicesContext,
  useLiveTick,
  useServices
} from '../components/services';

export interface IDatasetSummary {
  name: string;
  versions: number;
  latest_fingerprint: string;
  latest_rows: number | null;
  latest_size_bytes: number | null;
  updated_at: number;
  source_uri: string | null;
}

export interface IDatasetUse {
  run_id: string;
  run_name: string | null;
  status: string;
  at: number;
}

export interface ISchemaChanges {
  added: string[];
  removed: string[];
  changed: Record<string, [string, string]>;
}

export interface IColumnProfile {
  dtype?: string;
  missing?: number;
  min?: number | null;
  max?: number | null;
}

export interface IDatasetVersion {
  name: string;
  version: number;
  id: number;
  fingerprint: string;
  source_uri: string | null;
  rows: number | null;
  size_bytes: number | null;
  schema: Record<string, string>;
  profile: {
    rows?: number | null;
    columns?: number | null;
    size_bytes?: number | null;
    column_profiles?: Record<string, IColumnProfile>;
  };
  created_at: number;
  produced_by: IDatasetUse[];
  consumed_by: IDatasetUse[];
  schema_changes: ISchemaChanges | null;
}

const SHOWN_USES = 12;

export function datasetEndpoint(name: string): string {
  return `datasets/${encodeURIComponent(name)}`;
}

/** Runs that used a version, each a link to its Run view; past a dozen, how many more. */
function Uses(props: { uses: IDatasetUse[]; role: string }): JSX.Element {
  const { open } = useServices();
  if (props.uses.length === 0) {
    return <span className="jp-mlops-muted">–</span>;
  }
  const shown = props.uses.slice(0, SHOWN_USES);
  return (
    <span className={`jp-mlops-uses jp-mlops-${props.role}`}>
      {shown.map(u => (
        <Link
          key={u.run_id}
          className="jp-mlops-use"
          title={`${u.run_name ?? ''} ${u.run_id} (${u.status})`}
          onClick={() => open.run(u.run_id)}
        >
          <span data-run={u.run_id} data-status={u.status}>
            {u.run_name || short(u.run_id)}
          </span>
        </Link>
      ))}
      {props.uses.length > shown.length && (
        <span className="jp-mlops-muted">
          {' '}
          +{props.uses.length - shown.length} more
        </span>
      )}
    </span>
  );
}

function changeCount(changes: ISchemaChanges | null): string {
  if (!changes) {
    return 'first version';
  }
  const parts = [
    changes.added.length ? `+${changes.added.length}` : '',
    changes.removed.length ? `−${changes.removed.length}` : '',
    Object.keys(changes.changed).length
      ? `~${Object.keys(changes.changed).length}`
      : ''
  ].filter(Boolean);
  return parts.length ? `${parts.join(' ')} columns` : 'same columns';
}

/** The columns added, removed and retyped since the version before. */
export function SchemaChanges(props: {
  changes: ISchemaChanges | null;
}): JSX.Element {
  const c = props.changes;
  if (!c) {
    return (
      <div className="jp-mlops-schema-changes jp-mlops-muted">
        The first version: nothing to compare with.
      </div>
    );
  }
  const changed = Object.entries(c.changed);
  if (c.added.length + c.removed.length + changed.length === 0) {
    return (
      <div className="jp-mlops-schema-changes jp-mlops-muted">
        Same columns and types as the version before.
      </div>
    );
  }
  return (
    <ul className="jp-mlops-schema-changes jp-mlops-plain-list">
      {c.added.map(col => (
        <li key={`+${col}`} data-change="added" data-column={col}>
          <span className="jp-mlops-change-mark">added</span> {col}
        </li>
      ))}
      {c.removed.map(col => (
        <li key={`-${col}`} data-change="removed" data-column={col}>
          <span className="jp-mlops-change-mark">removed</span> {col}
        </li>
      ))}
      {changed.map(([col, [before, after]]) => (
        <li key={`~${col}`} data-change="retyped" data-column={col}>
          <span className="jp-mlops-change-mark">retyped</span> {col}: {before}{' '}
          → {after}
        </li>
      ))}
    </ul>
  );
}

function VersionDetail(props: { version: IDatasetVersion }): JSX.Element {
  const { open } = useServices();
  const v = props.version;
  const profiles = v.profile.column_profiles ?? {};
  return (
    <div className="jp-mlops-dataset-version" data-version={v.version}>
      <div className="jp-mlops-toolbar">
        <h3 className="jp-mlops-title">
          {v.name} v{v.version}
        </h3>
        <span className="jp-mlops-muted">{v.fingerprint}</span>
        <span className="jp-mlops-spacer" />
        <button
          className="jp-mlops-button jp-mlops-open-lineage"
          onClick={() => open.lineage(`dataset:${v.id}`)}
        >
          Lineage
        </button>
      </div>
      <KeyValues
        rows={[
          ['source', v.source_uri ?? '–'],
          ['rows', fmt(v.rows)],
          ['size', v.size_bytes !== null ? bytes(v.size_bytes) : '–'],
          ['created', when(v.created_at)],
          [
            'produced by',
            <Uses key="p" uses={v.produced_by} role="produced" />
          ],
          ['consumed by', <Uses key="c" uses={v.consumed_by} role="consumed" />]
        ]}
      />
      <h4>Schema changes from v{v.version - 1 || '–'}</h4>
      <SchemaChanges changes={v.schema_changes} />
      <h4>Columns ({Object.keys(v.schema).length})</h4>
      {Object.keys(v.schema).length === 0 ? (
        <div className="jp-mlops-empty">
          No schema recorded (not a table this version could read).
        </div>
      ) : (
        <table className="jp-mlops-table jp-mlops-dataset-columns">
          <thead>
            <tr>
              <th>column</th>
              <th>type</th>
              <th>missing</th>
              <th>min</th>
              <th>max</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(v.schema).map(([col, type]) => (
              <tr key={col} data-column={col}>
                <td>{col}</td>
                <td>{type}</td>
                <td>{fmt(profiles[col]?.missing)}</td>
                <td>{fmt(profiles[col]?.min)}</td>
                <td>{fmt(profiles[col]?.max)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function DatasetPage(props: {
  name: string;
  fingerprint?: string;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const tick = useLiveTick(ref);
  const [versions, setVersions] = React.useState<IDatasetVersion[] | null>(
    null
  );
  const [error, setError] = React.useState<string | null>(null);
  const [chosen, setChosen] = React.useState<number | null>(null);
  React.useEffect(() => {
    requestAPI<{ name: string; versions: IDatasetVersion[] }>(
      datasetEndpoint(props.name)
    )
      .then(d => {
        setVersions(d.versions);
        setError(null);
        setChosen(c => {
          if (c !== null && d.versions.some(v => v.version === c)) {
            return c;
          }
          const asked = d.versions.find(
            v => props.fingerprint && v.fingerprint === props.fingerprint
          );
          return (asked ?? d.versions[d.versions.length - 1])?.version ?? null;
        });
      })
      .catch(e => setError(e.message));
  }, [props.name, tick]);
  const current = versions?.find(v => v.version === chosen);
  const newestFirst = versions ? [...versions].reverse() : [];
  return (
    <div
      ref={ref}
      className="jp-mlops-view jp-mlops-dataset-view"
      data-dataset={props.name}
    >
      <div className="jp-mlops-toolbar jp-mlops-view-header">
        <h2 className="jp-mlops-title">{props.name}</h2>
        {versions && (
          <span className="jp-mlops-muted" data-versions={versions.length}>
            {versions.length} version{versions.length === 1 ? '' : 's'}
          </span>
        )}
      </div>
      <ErrorLine error={error} />
      {!versions && !error && <Loading />}
      {versions && (
        <table className="jp-mlops-table jp-mlops-dataset-versions">
          <thead>
            <tr>
              <th>version</th>
              <th>fingerprint</th>
              <th>source</th>
              <th>size</th>
              <th>rows</th>
              <th>created</th>
              <th>produced by</th>
              <th>consumed by</th>
              <th>schema</th>
            </tr>
          </thead>
          <tbody>
            {newestFirst.map(v => (
              <tr
                key={v.version}
                data-version={v.version}
                data-fingerprint={v.fingerprint}
                className={v.version === chosen ? 'jp-mlops-selected' : ''}
                onClick={() => setChosen(v.version)}
              >
                <td>v{v.version}</td>
                <td title={v.fingerprint}>{v.fingerprint.slice(0, 12)}</td>
                <td className="jp-mlops-source" title={v.source_uri ?? ''}>
                  {v.source_uri ?? '–'}
                </td>
                <td>{v.size_bytes !== null ? bytes(v.size_bytes) : '–'}</td>
                <td>{fmt(v.rows)}</td>
                <td>{when(v.created_at)}</td>
                <td onClick={e => e.stopPropagation()}>
                  <Uses uses={v.produced_by} role="produced" />
                </td>
                <td onClick={e => e.stopPropagation()}>
                  <Uses uses={v.consumed_by} role="consumed" />
                </td>
                <td>{changeCount(v.schema_changes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {current && <VersionDetail version={current} />}
    </div>
  );
}

export class DatasetView extends ReactWidget {
  constructor(
    private readonly services: IServices,
    readonly name: string,
    readonly fingerprint?: string
  ) {
    super();
    this.addClass('jp-mlops-main');
  }

  get args(): { name: string } {
    return { name: this.name };
  }

  render(): JSX.Element {
    return (
      <ServicesContext.Provider value={this.services}>
        <DatasetPage name={this.name} fingerprint={this.fingerprint} />
      </ServicesContext.Provider>
    );
  }
}

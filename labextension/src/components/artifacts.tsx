/**
 * A run's artifacts: the list, and a preview of the chosen one. Images are drawn from the
 * artifact's bytes (an <img> runs no script, SVG included); tables show their first rows;
 * HTML goes into a frame sandboxed with no permissions at all (no scripts, no same origin);
 * JSON and text as text; notebooks through the read-only, untrusted snapshot view.
 */
import * as React from 'react';

import {
  IArtifact,
  IPreview,
  artifactEndpoint,
  bytes,
  encodePath,
  requestAPI,
  requestBlob,
  saveBlob
} from '../api';
import { ISnapshot, SnapshotView } from '../views/snapshot';
import { ErrorLine, Loading } from './common';
import { LuminoHost } from './markdown';
import { useServices } from './services';

const PREVIEW_ROWS = 50;

function ImagePreview(props: { runId: string; path: string }): JSX.Element {
  const [src, setSrc] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let url: string | null = null;
    let cancelled = false;
    requestBlob(artifactEndpoint(props.runId, props.path))
      .then(blob => {
        if (!cancelled) {
          url = URL.createObjectURL(blob);
          setSrc(url);
        }
      })
      .catch(e => setError(e.message));
    return () => {
      cancelled = true;
      if (url) {
        URL.revokeObjectURL(url);
      }
    };
  }, [props.runId, props.path]);
  if (error) {
    return <ErrorLine error={error} />;
  }
  return src ? (
    <img className="jp-mlops-preview-image" src={src} alt={props.path} />
  ) : (
    <Loading />
  );
}

function TablePreview(props: { preview: IPreview }): JSX.Element {
  const p = props.preview;
  const shown = p.rows?.length ?? 0;
  return (
    <div className="jp-mlops-preview-table-wrap">
      <div className="jp-mlops-muted">
        first {shown} rows
        {p.total_rows !== null && p.total_rows !== undefined
          ? ` of ${p.total_rows.toLocaleString()}`
          : ''}
        {p.more_columns ? ` · ${p.more_columns} more columns not shown` : ''}
      </div>
      <table className="jp-mlops-table jp-mlops-preview-table">
        <thead>
          <tr>
            {(p.columns ?? []).map((c, i) => (
              <th key={i}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {(p.rows ?? []).map((row, r) => (
            <tr key={r}>
              {row.map((value, c) => (
                <td
                  key={c}
                  className={typeof value === 'number' ? 'jp-mlops-num' : ''}
                >
                  {value === null ? '' : String(value)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function NotebookPreview(props: { runId: string; path: string }): JSX.Element {
  const { rendermime, open } = useServices();
  const [snapshot, setSnapshot] = React.useState<ISnapshot | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    requestAPI<ISnapshot>(
      `runs/${props.runId}/notebook`,
      {},
      { path: props.path }
    )
      .then(setSnapshot)
      .catch(e => setError(e.message));
  }, [props.runId, props.path]);
  if (error) {
    return <ErrorLine error={error} />;
  }
  if (!snapshot) {
    return <Loading />;
  }
  return (
    <div>
      <button
        className="jp-mlops-button"
        onClick={() => open.notebook(props.runId, props.path)}
      >
        Open in a tab
      </button>
      <LuminoHost
        className="jp-mlops-preview-notebook"
        make={() => new SnapshotView(snapshot, rendermime)}
        deps={[snapshot]}
      />
    </div>
  );
}

export function Preview(props: {
  runId: string;
  artifact: IArtifact;
}): JSX.Element {
  const { path } = props.artifact;
  const [preview, setPreview] = React.useState<IPreview | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    setPreview(null);
    setError(null);
    requestAPI<IPreview>(
      `runs/${props.runId}/preview/${encodePath(path)}`,
      {},
      { rows: PREVIEW_ROWS }
    )
      .then(setPreview)
      .catch(e => setError(e.message));
  }, [props.runId, path]);

  const download = () =>
    requestBlob(artifactEndpoint(props.runId, path))
      .then(blob => saveBlob(blob, path.split('/').pop() || 'artifact'))
      .catch(e => setError(e.message));

  let body: React.ReactNode = <Loading />;
  if (preview) {
    switch (preview.kind) {
      case 'image':
        body = <ImagePreview runId={props.runId} path={path} />;
        break;
      case 'table':
        body = <TablePreview preview={preview} />;
        break;
      case 'html':
        // No allow-scripts, no allow-same-origin: the page is drawn and nothing in it runs.
        body = (
          <iframe
            className="jp-mlops-preview-html"
            sandbox=""
            srcDoc={preview.text ?? ''}
            title={path}
          />
        );
        break;
      case 'notebook':
        body = <NotebookPreview runId={props.runId} path={path} />;
        break;
      case 'json':
      case 'text':
        body = (
          <pre className="jp-mlops-preview-text">
            {preview.text}
            {preview.truncated ? '\n… (truncated)' : ''}
          </pre>
        );
        break;
      default:
        body = (
          <div className="jp-mlops-empty">
            No preview for this kind of file.
          </div>
        );
    }
  }
  return (
    <div
      className="jp-mlops-preview"
      data-path={path}
      data-kind={preview?.kind ?? ''}
    >
      <div className="jp-mlops-toolbar">
        <b>{path}</b>
        <span className="jp-mlops-muted">
          {bytes(props.artifact.size)} · {props.artifact.media_type}
        </span>
        <button
          className="jp-mlops-button jp-mlops-download"
          onClick={() => void download()}
        >
          Download
        </button>
      </div>
      <ErrorLine error={error} />
      {!error && body}
    </div>
  );
}

export function ArtifactBrowser(props: {
  runId: string;
  artifacts: IArtifact[];
}): JSX.Element {
  const [chosen, setChosen] = React.useState<string | null>(
    props.artifacts[0]?.path ?? null
  );
  const artifact = props.artifacts.find(a => a.path === chosen);
  if (props.artifacts.length === 0) {
    return <div className="jp-mlops-empty">This run logged no artifacts.</div>;
  }
  return (
    <div className="jp-mlops-artifacts">
      <ul
        className="jp-mlops-artifact-list"
        role="listbox"
        aria-label="artifacts"
      >
        {props.artifacts.map(a => (
          <li
            key={a.path}
            role="option"
            aria-selected={a.path === chosen}
            data-path={a.path}
            className={a.path === chosen ? 'jp-mod-selected' : ''}
            onClick={() => setChosen(a.path)}
          >
            <span className="jp-mlops-artifact-path">{a.path}</span>
            <span className="jp-mlops-muted">{bytes(a.size)}</span>
          </li>
        ))}
      </ul>
      {artifact && <Preview runId={props.runId} artifact={artifact} />}
    </div>
  );
}

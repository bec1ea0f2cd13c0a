/**
 * Notebook diff view (main area): two runs' notebook snapshots, cell by cell.
 */
import * as React from 'react';

import { INotebookDiff, requestAPI, short } from '../api';

export function NotebookDiffView(props: { a: string; b: string }): JSX.Element {
  const [diff, setDiff] = React.useState<INotebookDiff | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [showEqual, setShowEqual] = React.useState(false);

  React.useEffect(() => {
    requestAPI<INotebookDiff>('diff', {}, { a: props.a, b: props.b })
      .then(setDiff)
      .catch(e => setError(e.message));
  }, [props.a, props.b]);

  if (error) {
    return <div className="jp-mlops-error">{error}</div>;
  }
  if (!diff) {
    return <div className="jp-mlops-view">loading…</div>;
  }
  const s = diff.summary;
  return (
    <div className="jp-mlops-view jp-mlops-nbdiff">
      <h2>
        {diff.a.path} ({short(diff.a.run_id)}) → {diff.b.path} ({short(diff.b.run_id)})
      </h2>
      <p>
        {s.changed} changed, {s.added} added, {s.removed} removed, {s.equal} unchanged; outputs differ in{' '}
        {s.outputs_changed} cells.{' '}
        <label>
          <input type="checkbox" checked={showEqual} onChange={() => setShowEqual(x => !x)} /> show unchanged cells
        </label>
      </p>
      {diff.cells
        .filter(c => showEqual || c.op !== 'equal' || c.outputs_changed)
        .map((c, i) => (
          <div key={i} className={`jp-mlops-cell jp-mlops-cell-${c.op}`} data-op={c.op}>
            <div className="jp-mlops-cell-head">
              {c.op} {c.cell_type} cell {c.a_index !== null ? `a[${c.a_index}]` : ''}{' '}
              {c.b_index !== null ? `b[${c.b_index}]` : ''}
              {c.outputs_changed ? ' · outputs changed' : ''}
            </div>
            {c.op === 'changed' ? (
              <pre className="jp-mlops-udiff">
                {(c.source_diff ?? '')
                  .split('\n')
                  .filter(line => !line.startsWith('--- ') && !line.startsWith('+++ '))
                  .map((line, j) => (
                  <div
                    key={j}
                    className={line.startsWith('+') ? 'jp-mlops-add' : line.startsWith('-') ? 'jp-mlops-del' : ''}
                  >
                    {line}
                  </div>
                ))}
              </pre>
            ) : (
              <pre className={c.op === 'added' ? 'jp-mlops-add' : c.op === 'removed' ? 'jp-mlops-del' : ''}>
                {c.source_b ?? c.source_a}
              </pre>
            )}
            {c.outputs_changed && (
              <div className="jp-mlops-outputs">
                <pre className="jp-mlops-del">{c.outputs_a}</pre>
                <pre className="jp-mlops-add">{c.outputs_b}</pre>
              </div>
            )}
          </div>
        ))}
    </div>
  );
}

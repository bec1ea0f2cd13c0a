/**
 * Notebook diff (main area, and inline in the Compare view): two runs' notebook snapshots,
 * cell by cell, with changed source lines and changed outputs marked.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { INotebookDiff, requestAPI, short } from '../api';
import { ErrorLine, Loading } from '../components/common';

export function NotebookDiff(props: { a: string; b: string }): JSX.Element {
  const [diff, setDiff] = React.useState<INotebookDiff | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [showEqual, setShowEqual] = React.useState(false);

  React.useEffect(() => {
    setDiff(null);
    setError(null);
    requestAPI<INotebookDiff>('diff', {}, { a: props.a, b: props.b })
      .then(setDiff)
      .catch(e => setError(e.message));
  }, [props.a, props.b]);

  if (error) {
    return <ErrorLine error={error} />;
  }
  if (!diff) {
    return <Loading />;
  }
  const s = diff.summary;
  return (
    <div className="jp-mlops-nbdiff">
      <h3>
        {diff.a.path} ({short(diff.a.run_id)}) → {diff.b.path} (
        {short(diff.b.run_id)})
      </h3>
      <p>
        {s.changed} changed, {s.added} added, {s.removed} removed, {s.equal}{' '}
        unchanged; outputs differ in {s.outputs_changed} cells.{' '}
        <label>
          <input
            type="checkbox"
            checked={showEqual}
            onChange={() => setShowEqual(x => !x)}
          />{' '}
          show unchanged cells
        </label>
      </p>
      {diff.cells
        .filter(c => showEqual || c.op !== 'equal' || c.outputs_changed)
        .map((c, i) => (
          <div
            key={i}
            className={`jp-mlops-cell jp-mlops-cell-${c.op}`}
            data-op={c.op}
          >
            <div className="jp-mlops-cell-head">
              {c.op} {c.cell_type} cell{' '}
              {c.a_index !== null ? `a[${c.a_index}]` : ''}{' '}
              {c.b_index !== null ? `b[${c.b_index}]` : ''}
              {c.outputs_changed ? ' · outputs changed' : ''}
            </div>
            {c.op === 'changed' ? (
              <pre className="jp-mlops-udiff">
                {(c.source_diff ?? '')
                  .split('\n')
                  .filter(
                    line => !line.startsWith('--- ') && !line.startsWith('+++ ')
                  )
                  .map((line, j) => (
                    <div
                      key={j}
                      className={
                        line.startsWith('+')
                          ? 'jp-mlops-add'
                          : line.startsWith('-')
                            ? 'jp-mlops-del'
                            : ''
                      }
                    >
                      {line}
                    </div>
                  ))}
              </pre>
            ) : (
              <pre
                className={
                  c.op === 'added'
                    ? 'jp-mlops-add'
                    : c.op === 'removed'
                      ? 'jp-mlops-del'
                      : ''
                }
              >
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

export class NotebookDiffView extends ReactWidget {
  constructor(
    readonly a: string,
    readonly b: string
  ) {
    super();
    this.addClass('jp-mlops-main');
  }

  get args(): { a: string; b: string } {
    return { a: this.a, b: this.b };
  }

  render(): JSX.Element {
    return (
      <div className="jp-mlops-view">
        <NotebookDiff a={this.a} b={this.b} />
      </div>
    );
  }
}

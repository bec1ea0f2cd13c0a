/**
 * A run's notebook (its snapshot, or the notebook a pipeline step executed), shown read-only.
 *
 * A stored notebook was written by whoever logged the run, so it is never opened as a working
 * copy: nothing is saved into the user's files (a save through the contents API would sign it,
 * and a signed notebook runs its scripts), no kernel is started, and nothing is editable. Cells
 * are drawn with JupyterLab's own renderers in untrusted mode, as JupyterLab draws an untrusted
 * notebook: HTML through the sanitizer, markdown likewise, and a type with no safe renderer
 * (JavaScript, SVG) falls back to the output's plain text. The server has already stripped every
 * trust marker (jupyter_mlops/server/notebook_trust.py); nothing here reads one either.
 */
import type * as nbformat from '@jupyterlab/nbformat';
import {
  IRenderMime,
  IRenderMimeRegistry,
  MimeModel,
  OutputModel,
  RenderMimeRegistry,
  javaScriptRendererFactory,
  standardRendererFactories
} from '@jupyterlab/rendermime';
import { Panel, Widget } from '@lumino/widgets';

import { short } from '../api';

/** What GET runs/<id>/notebook answers. */
export interface ISnapshot {
  run_id: string;
  path: string;
  notebook: nbformat.INotebookContent;
}

/**
 * JupyterLab's standard renderers only, without the JavaScript one: renderers other extensions
 * registered are not asked to draw a stranger's notebook. The app's sanitizer, markdown parser
 * and LaTeX typesetter are reused.
 */
export function untrustedRenderMime(
  app: IRenderMimeRegistry
): IRenderMimeRegistry {
  return new RenderMimeRegistry({
    initialFactories: standardRendererFactories.filter(
      f => f !== javaScriptRendererFactory
    ),
    sanitizer: app.sanitizer,
    markdownParser: app.markdownParser ?? undefined,
    latexTypesetter: app.latexTypesetter ?? undefined
  });
}

function text(value: nbformat.MultilineString | undefined): string {
  return Array.isArray(value) ? value.join('') : (value ?? '');
}

function element(
  tag: string,
  className: string,
  content?: string
): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  if (content !== undefined) {
    node.textContent = content; // text, never HTML
  }
  return node;
}

/** The read-only view: a banner, then each cell's source and outputs. */
export class SnapshotView extends Panel {
  /** What the command that opens this view takes (kept by the layout restorer). */
  readonly args: { id: string; path: string };

  constructor(
    readonly snapshot: ISnapshot,
    private readonly rendermime: IRenderMimeRegistry
  ) {
    super();
    this.args = { id: snapshot.run_id, path: snapshot.path };
    this.addClass('jp-mlops-snapshot');
    this.node.dataset.run = snapshot.run_id;
    this.addWidget(this.banner());
    const cells = Array.isArray(snapshot.notebook.cells)
      ? snapshot.notebook.cells
      : [];
    cells.forEach((cell, index) => this.addWidget(this.cell(cell, index)));
  }

  private banner(): Widget {
    const node = element('div', 'jp-mlops-snapshot-banner');
    node.appendChild(
      element(
        'span',
        '',
        `${this.snapshot.path} of run ${short(this.snapshot.run_id)}: read-only and untrusted ` +
          '(its HTML is sanitized, its scripts are not run, no kernel is attached).'
      )
    );
    const download = element(
      'button',
      'jp-mlops-button jp-mlops-snapshot-download',
      'Download .ipynb'
    );
    download.title =
      'save a copy (without trust markers) to open as your own notebook';
    download.onclick = () => this.download();
    node.appendChild(download);
    return new Widget({ node });
  }

  private cell(cell: nbformat.ICell, index: number): Widget {
    const panel = new Panel();
    panel.addClass('jp-mlops-snapshot-cell');
    panel.node.dataset.cellType = String(cell.cell_type);
    panel.node.dataset.index = String(index);
    const source = text(cell.source);
    if (cell.cell_type === 'markdown') {
      this.render(
        panel,
        new MimeModel({ data: { 'text/markdown': source }, trusted: false }),
        'text/markdown'
      );
      return panel;
    }
    const code = cell as nbformat.ICodeCell;
    const prompt =
      cell.cell_type === 'code' ? `[${code.execution_count ?? ' '}]:` : '';
    const input = element('div', 'jp-mlops-snapshot-input');
    input.appendChild(element('div', 'jp-mlops-snapshot-prompt', prompt));
    input.appendChild(element('pre', 'jp-mlops-snapshot-source', source));
    panel.addWidget(new Widget({ node: input }));
    if (cell.cell_type === 'code' && Array.isArray(code.outputs)) {
      for (const output of code.outputs) {
        this.output(panel, output);
      }
    }
    return panel;
  }

  private output(panel: Panel, output: nbformat.IOutput): void {
    let model: OutputModel;
    try {
      model = new OutputModel({ value: output, trusted: false });
    } catch (error) {
      panel.addWidget(
        new Widget({
          node: element(
            'div',
            'jp-mlops-snapshot-skipped',
            `unreadable output: ${error}`
          )
        })
      );
      return;
    }
    const mimeType = this.rendermime.preferredMimeType(model.data, 'ensure');
    if (!mimeType) {
      const types =
        Object.keys(model.data).join(', ') || String(output.output_type);
      panel.addWidget(
        new Widget({
          node: element(
            'div',
            'jp-mlops-snapshot-skipped',
            `(${types} output not shown: untrusted)`
          )
        })
      );
      return;
    }
    this.render(panel, model, mimeType);
  }

  private render(
    panel: Panel,
    model: IRenderMime.IMimeModel,
    mimeType: string
  ): void {
    const renderer = this.rendermime.createRenderer(mimeType);
    renderer.addClass('jp-mlops-snapshot-output');
    panel.addWidget(renderer);
    renderer
      .renderModel(model)
      .then(() => {
        // Links open beside the Lab, never in its place.
        renderer.node.querySelectorAll('a[href]').forEach(a => {
          a.setAttribute('target', '_blank');
          a.setAttribute('rel', 'noopener noreferrer');
        });
      })
      .catch(error =>
        renderer.node.replaceChildren(
          element('pre', 'jp-mlops-error', `cannot render: ${error}`)
        )
      );
  }

  private download(): void {
    const blob = new Blob([JSON.stringify(this.snapshot.notebook, null, 1)], {
      type: 'application/x-ipynb+json'
    });
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = this.snapshot.path.split('/').pop() || 'notebook.ipynb';
    link.click();
    window.setTimeout(() => URL.revokeObjectURL(url), 0); // after the click has started the download
  }
}

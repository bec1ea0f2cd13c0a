/**
 * Every view's opener, shared by the lab plugin (index.tsx) and the web page (standalone/shell.ts):
 * the tab id that keeps a view open once, its first label, and how its content is made. Each shell
 * passes its own ``show``, which activates an open tab or adds a new one, so the two cannot drift
 * apart on ids, titles or what a deep link (``?mlops=run/<id>``) opens.
 */
import { Widget } from '@lumino/widgets';

import { requestAPI, runLabel, short } from './api';
import { parseDeepLink } from './commands';
import { IServices } from './components/services';
import {
  GovernanceKind,
  governanceOpeners,
  openGovernanceLink
} from './governance';
import { CompareView, MAX_COMPARED } from './views/compare';
import { ExperimentView } from './views/experiment';
import { ModelView } from './views/model';
import { NotebookDiffView } from './views/nbdiff';
import { PipelineView } from './views/pipeline';
import { RunView } from './views/run';
import { ISnapshot, SnapshotView } from './views/snapshot';

export type ViewKind =
  | 'experiment'
  | 'run'
  | 'pipeline'
  | 'model'
  | 'compare'
  | 'diff'
  | 'notebook'
  | GovernanceKind;

/** A view's content: what its command needs to open it again (kept by the lab's layout restorer). */
export interface IViewContent extends Widget {
  readonly args: Record<string, unknown>;
}

/** Sets the tab's label (and caption) once the view knows its names. */
export type Titler = (label: string, caption?: string) => void;

/** A shell's way to put a view on screen: activate tab ``id`` if open, else make it and add it. */
export type Show = (
  kind: ViewKind,
  id: string,
  label: string,
  make: (title: Titler) => IViewContent
) => unknown;

export type ViewOpeners = Record<ViewKind, (args: any) => unknown>;

/**
 * ``activate(id)`` brings an open tab forward and says whether there was one: the notebook
 * snapshot asks first, so that an open snapshot is not fetched again.
 */
export function viewOpeners(
  show: Show,
  activate: (id: string) => boolean,
  services: IServices
): ViewOpeners {
  const openNotebook = async ({ id, path }: { id: string; path?: string }) => {
    // Read-only and untrusted, never a working copy (see views/snapshot.ts).
    const viewId = `jp-mlops-snapshot-${id}${path ? `-${encodeURIComponent(path)}` : ''}`;
    if (activate(viewId)) {
      return;
    }
    try {
      const snap = await requestAPI<ISnapshot>(
        `runs/${id}/notebook`,
        {},
        { path }
      );
      const name = snap.path.split('/').pop() || 'notebook.ipynb';
      show(
        'notebook',
        viewId,
        `${name} (run ${short(snap.run_id)}, read-only)`,
        () => new SnapshotView(snap, services.rendermime)
      );
    } catch (e: any) {
      window.alert(
        `Cannot open the notebook of run ${short(id)}: ${e.message}`
      );
    }
  };
  return {
    experiment: ({ name }: { name: string | null }) =>
      show(
        'experiment',
        `jp-mlops-experiment-${encodeURIComponent(name ?? '*')}`,
        name ?? 'All runs',
        () => new ExperimentView(services, name ?? null)
      ),
    run: ({ id }: { id: string }) =>
      show(
        'run',
        `jp-mlops-run-${id}`,
        `run ${short(id)}`,
        title =>
          new RunView(services, id, run =>
            title(
              runLabel(run),
              `Run ${runLabel(run)} (${run.run_id}) in ${run.experiment}`
            )
          )
      ),
    pipeline: ({ id }: { id: string }) =>
      show(
        'pipeline',
        `jp-mlops-pipeline-${id}`,
        `pipeline ${short(id)}`,
        title =>
          new PipelineView(services, id, p =>
            title(`${p.name} (pipeline)`, `Pipeline ${p.name}, run ${p.run_id}`)
          )
      ),
    model: ({ name, version }: { name: string; version?: number }) =>
      show(
        'model',
        `jp-mlops-model-${encodeURIComponent(name)}`,
        name,
        () => new ModelView(services, name, version)
      ),
    compare: ({ ids }: { ids: string[] }) => {
      const chosen = (ids ?? []).slice(0, MAX_COMPARED);
      return show(
        'compare',
        `jp-mlops-compare-${chosen.join('-')}`,
        `Compare ${chosen.length} runs`,
        title =>
          new CompareView(services, chosen, runs =>
            title(
              runs.map(runLabel).join(' vs '),
              `Compare ${runs.length} runs`
            )
          )
      );
    },
    diff: ({ a, b }: { a: string; b: string }) =>
      show(
        'diff',
        `jp-mlops-diff-${a}-${b}`,
        `Diff ${short(a)} ↔ ${short(b)}`,
        () => new NotebookDiffView(a, b)
      ),
    notebook: openNotebook,
    ...governanceOpeners(show, services)
  };
}

/**
 * Open the view a deep link names: ``run/<id>``, ``experiment/<name>``, ``pipeline/<id>``,
 * ``model/<name>[/<version>]``, and the governance views' ``dataset/<name>``,
 * ``lineage/run/<id>``, ``schedule/<name>``. False when there is none, or it names no view.
 */
export function openDeepLink(openers: ViewOpeners, search: string): boolean {
  const link = parseDeepLink(search);
  if (!link) {
    return false;
  }
  const { kind, target } = link;
  if (kind === 'run' || kind === 'pipeline') {
    void openers[kind]({ id: target });
  } else if (kind === 'experiment') {
    void openers.experiment({ name: target });
  } else if (kind === 'model') {
    const [name, version] = target.split('/');
    void openers.model({
      name,
      version: version ? Number(version) : undefined
    });
  } else if (!openGovernanceLink(openers, kind, target)) {
    console.warn(`jupyter-mlops: unknown deep link mlops=${kind}/…`);
    return false;
  }
  return true;
}

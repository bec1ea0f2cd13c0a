/**
 * The commands that open every view. Views, the navigator, deep links and the palette all open
 * things through these, so each view has one way in and can be restored after a reload.
 */
import { CommandRegistry } from '@lumino/commands';

export namespace CommandIDs {
  export const openSidebar = 'jupyter-mlops:open';
  export const openExperiment = 'jupyter-mlops:open-experiment';
  export const openRun = 'jupyter-mlops:open-run';
  export const openPipeline = 'jupyter-mlops:open-pipeline';
  export const openModel = 'jupyter-mlops:open-model';
  export const compare = 'jupyter-mlops:compare';
  export const diff = 'jupyter-mlops:diff';
  export const openNotebook = 'jupyter-mlops:open-notebook';
  export const openDataset = 'jupyter-mlops:open-dataset';
  export const openLineage = 'jupyter-mlops:open-lineage';
  export const openSchedule = 'jupyter-mlops:open-schedule';
  export const scheduleNotebook = 'jupyter-mlops:schedule-notebook';
}

/** What a view may open, by name or id; each call runs the command of that view. */
export interface IOpener {
  experiment(name: string): void;
  run(id: string): void;
  pipeline(id: string): void;
  model(name: string, version?: number): void;
  compare(ids: string[]): void;
  diff(a: string, b: string): void;
  notebook(runId: string, path?: string): void;
  dataset(name: string, fingerprint?: string): void;
  /** The lineage graph around a node: ``run:<id>``, ``model:NAME/N``, ``dataset:<version id>``. */
  lineage(node: string): void;
  schedule(name: string): void;
}

export function opener(commands: CommandRegistry): IOpener {
  const run = (id: string, args: Record<string, unknown>) => {
    commands.execute(id, args as any).catch(reason => {
      console.error(`jupyter-mlops: ${id} failed`, reason);
    });
  };
  return {
    experiment: name => run(CommandIDs.openExperiment, { name }),
    run: id => run(CommandIDs.openRun, { id }),
    pipeline: id => run(CommandIDs.openPipeline, { id }),
    model: (name, version) =>
      run(CommandIDs.openModel, version ? { name, version } : { name }),
    compare: ids => run(CommandIDs.compare, { ids }),
    diff: (a, b) => run(CommandIDs.diff, { a, b }),
    notebook: (runId, path) =>
      run(CommandIDs.openNotebook, path ? { id: runId, path } : { id: runId }),
    dataset: (name, fingerprint) =>
      run(
        CommandIDs.openDataset,
        fingerprint ? { name, fingerprint } : { name }
      ),
    lineage: node => run(CommandIDs.openLineage, { node }),
    schedule: name => run(CommandIDs.openSchedule, { name })
  };
}

/** A deep link's target: ``/lab?mlops=run/<id>`` → ``['run', '<id>']``. */
export function parseDeepLink(
  search: string
): { kind: string; target: string } | null {
  const value = new URLSearchParams(search).get('mlops');
  if (!value) {
    return null;
  }
  const slash = value.indexOf('/');
  if (slash < 1) {
    return null;
  }
  return { kind: value.slice(0, slash), target: value.slice(slash + 1) };
}

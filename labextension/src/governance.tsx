/**
 * The Dataset, Lineage and Schedule views' openers, commands ("MLOps: Open dataset…", "MLOps:
 * Open lineage…", "MLOps: Open schedule…") and deep links (/lab?mlops=dataset/<name>,
 * lineage/run/<id>, lineage/model/<name>/<version>, lineage/dataset/<version id>,
 * schedule/<name>). viewopeners.ts gives them each shell's ``show``, and the lab plugin its
 * ``pick``, so these views are tracked and restored like every other.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { InputDialog } from '@jupyterlab/apputils';

import { requestAPI } from './api';
import { CommandIDs } from './commands';
import { IServices } from './components/services';
import type { Show } from './viewopeners';
import { DatasetView, IDatasetSummary } from './views/dataset';
import { ILineageGraph, LineageView } from './views/lineage';
import { ISchedule, ScheduleView } from './views/schedule';

export type GovernanceKind = 'dataset' | 'lineage' | 'schedule';

type Pick = (
  title: string,
  items: { label: string; value: string }[]
) => Promise<string | null>;

export type GovernanceOpeners = Record<GovernanceKind, (args: any) => unknown>;

export const GOVERNANCE_COMMANDS = [
  CommandIDs.openDataset,
  CommandIDs.openLineage,
  CommandIDs.openSchedule
];

export function governanceOpeners(
  show: Show,
  services: IServices
): GovernanceOpeners {
  return {
    dataset: ({ name, fingerprint }: { name: string; fingerprint?: string }) =>
      show(
        'dataset',
        `jp-mlops-dataset-${encodeURIComponent(name)}`,
        name.split('/').pop() || name,
        () => new DatasetView(services, name, fingerprint)
      ),
    lineage: ({ node }: { node: string }) =>
      show(
        'lineage',
        `jp-mlops-lineage-${encodeURIComponent(node)}`,
        `lineage ${node}`,
        title =>
          new LineageView(services, node, (_: ILineageGraph, start) =>
            title(
              `lineage: ${start?.label ?? node}`,
              `Lineage of ${start?.label ?? node}, upstream and downstream`
            )
          )
      ),
    schedule: ({ name }: { name: string }) =>
      show(
        'schedule',
        `jp-mlops-schedule-${encodeURIComponent(name)}`,
        `${name} (schedule)`,
        title =>
          new ScheduleView(services, name, s =>
            title(
              `${s.name} (schedule)`,
              `Schedule ${s.name}: ${s.description} (${s.cron}, ${s.timezone})`
            )
          )
      )
  };
}

/** The three commands, each opening its view by name or, from the palette, by asking. */
export function addGovernanceCommands(
  app: JupyterFrontEnd,
  openers: GovernanceOpeners,
  pick: Pick
): void {
  app.commands.addCommand(CommandIDs.openDataset, {
    label: args => (args.name ? 'Open dataset' : 'MLOps: Open dataset…'),
    execute: async args => {
      if (args.name) {
        return openers.dataset({
          name: args.name as string,
          fingerprint: args.fingerprint as string | undefined
        });
      }
      const { datasets } = await requestAPI<{ datasets: IDatasetSummary[] }>(
        'datasets'
      );
      const name = await pick(
        'Open dataset',
        datasets.map(d => ({
          label: `${d.name} (${d.versions} version${d.versions === 1 ? '' : 's'})`,
          value: d.name
        }))
      );
      return name !== null ? openers.dataset({ name }) : undefined;
    }
  });
  app.commands.addCommand(CommandIDs.openLineage, {
    label: args => (args.node ? 'Open lineage' : 'MLOps: Open lineage…'),
    execute: async args => {
      if (args.node) {
        return openers.lineage({ node: args.node as string });
      }
      const result = await InputDialog.getText({
        title: 'Open lineage of',
        placeholder: 'run id, NAME/VERSION, NAME@ALIAS or dataset name'
      });
      const ref = result.button.accept ? (result.value ?? '').trim() : '';
      if (!ref) {
        return;
      }
      try {
        // The reference resolved by the server: a dataset name stands for its latest version.
        const found = await requestAPI<ILineageGraph>(
          'lineage',
          {},
          { ref, direction: 'up' }
        );
        return openers.lineage({ node: found.start[found.start.length - 1] });
      } catch (e: any) {
        window.alert(`No lineage for ${ref}: ${e.message}`);
      }
    }
  });
  app.commands.addCommand(CommandIDs.openSchedule, {
    label: args => (args.name ? 'Open schedule' : 'MLOps: Open schedule…'),
    execute: async args => {
      if (args.name) {
        return openers.schedule({ name: args.name as string });
      }
      const { schedules } = await requestAPI<{ schedules: ISchedule[] }>(
        'schedules'
      );
      const name = await pick(
        'Open schedule',
        schedules.map(s => ({
          label: `${s.name} (${s.paused ? 'paused' : s.description})`,
          value: s.name
        }))
      );
      return name !== null ? openers.schedule({ name }) : undefined;
    }
  });
}

/** Open a deep link's view if it is one of these; false when the kind is not. */
export function openGovernanceLink(
  openers: GovernanceOpeners,
  kind: string,
  target: string
): boolean {
  if (kind === 'dataset') {
    openers.dataset({ name: target });
  } else if (kind === 'schedule') {
    openers.schedule({ name: target });
  } else if (kind === 'lineage') {
    // lineage/run/<id>, lineage/model/<name>/<version>, lineage/dataset/<version id>
    const slash = target.indexOf('/');
    if (slash < 1) {
      return false;
    }
    openers.lineage({
      node: `${target.slice(0, slash)}:${target.slice(slash + 1)}`
    });
  } else {
    return false;
  }
  return true;
}

/**
 * The web page's shell: a header (who is signed in, their role, sign out), the navigator on
 * the left and the views in a dock panel, each in a MainAreaWidget as in JupyterLab. Views open
 * one another through the same commands as in the lab (commands.ts), so links between views,
 * the navigator and deep links (``/?mlops=run/<id>``) work alike. Controls the user's role may
 * not use are hidden by classes on the body (style/standalone.css); the server refuses them anyway.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { DockPanelSvg } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { BoxLayout, BoxPanel, SplitPanel, Widget } from '@lumino/widgets';

import { requestAPI, runLabel, short } from '../api';
import { CommandIDs, opener, parseDeepLink } from '../commands';
import {
  GovernanceOpeners,
  governanceOpeners,
  openGovernanceLink
} from '../governance';
import { NavigatorWidget } from '../navigator';
import { CompareView, MAX_COMPARED } from '../views/compare';
import { ExperimentView } from '../views/experiment';
import { ModelView } from '../views/model';
import { NotebookDiffView } from '../views/nbdiff';
import { PipelineView } from '../views/pipeline';
import { RunView } from '../views/run';
import { ISnapshot, SnapshotView } from '../views/snapshot';
import { makeServices } from './services';
import { IWhoAmI } from './whoami';

const ACTION = /^[a-z]+$/;

type Titler = (label: string, caption?: string) => void;

function element(tag: string, className: string, text?: string): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text; // text, never HTML
  }
  return node;
}

/** ``jp-mlops-may-not-<action>`` on the body for each action the role may not take. */
function markRole(me: IWhoAmI): void {
  document.body.dataset.mlopsRole = me.role;
  for (const [action, allowed] of Object.entries(me.may)) {
    if (ACTION.test(action)) {
      document.body.classList.toggle(`jp-mlops-may-not-${action}`, !allowed);
    }
  }
}

function header(me: IWhoAmI, signOut: () => void): Widget {
  const node = element('header', 'jp-mlops-standalone-header');
  node.appendChild(
    element('span', 'jp-mlops-standalone-brand', 'jupyter_mlops')
  );
  node.appendChild(element('span', 'jp-mlops-spacer'));
  const who = element('span', 'jp-mlops-whoami');
  who.dataset.user = me.name;
  who.dataset.role = me.role;
  who.append('signed in as ', element('strong', '', me.name), ` · ${me.role}`);
  node.appendChild(who);
  if (!me.may.log) {
    const badge = element(
      'span',
      'jp-mlops-badge jp-mlops-read-only',
      'read-only'
    );
    badge.title =
      'Your role reads the store; changes need an editor, approver or admin.';
    node.appendChild(badge);
  }
  const button = element(
    'button',
    'jp-mlops-button jp-mlops-sign-out',
    'Sign out'
  );
  button.addEventListener('click', signOut);
  node.appendChild(button);
  return new Widget({ node });
}

function welcome(me: IWhoAmI): Widget {
  const widget = new Widget();
  widget.id = 'jp-mlops-welcome';
  widget.addClass('jp-mlops-welcome');
  widget.title.label = 'Start';
  widget.title.closable = true;
  widget.node.append(
    element('h2', '', `Hello, ${me.name}`),
    element(
      'p',
      '',
      'Open an experiment, a pipeline run or a model from the navigator on the left; ' +
        'its search box also finds runs by name or id. Views link to one another.'
    ),
    element(
      'p',
      'jp-mlops-muted',
      me.may.log
        ? `As ${me.role} you may ${Object.keys(me.may)
            .filter(a => me.may[a])
            .join(', ')}.`
        : 'As a viewer you see everything and change nothing: approvals, aliases, notes, ' +
            'tags and re-runs need an editor, approver or admin.'
    )
  );
  return widget;
}

/** Build the page for the signed-in user (the API module has the token by now). */
export function mountShell(me: IWhoAmI, signOut: () => void): void {
  markRole(me);
  const commands = new CommandRegistry();
  const services = makeServices(opener(commands));
  const dock = new DockPanelSvg();
  dock.id = 'jp-mlops-dock';

  /** Activate the view ``id`` if it is open, else make it and add it as a tab. */
  const show = (id: string, label: string, make: (t: Titler) => Widget) => {
    for (const open of dock.widgets()) {
      if (open.id === id) {
        dock.activateWidget(open);
        return open;
      }
    }
    let widget: MainAreaWidget | null = null;
    const title: Titler = (text, caption) => {
      if (widget) {
        widget.title.label = text;
        widget.title.caption = caption ?? text;
      }
    };
    const content = make(title);
    content.addClass('jp-mlops-main');
    widget = new MainAreaWidget({ content });
    widget.id = id;
    widget.addClass('jp-mlops-view-widget');
    widget.title.label = label;
    widget.title.caption = label;
    widget.title.closable = true;
    dock.addWidget(widget);
    dock.activateWidget(widget);
    return widget;
  };

  const openNotebook = async (id: string, path?: string) => {
    const viewId = `jp-mlops-snapshot-${id}${path ? `-${encodeURIComponent(path)}` : ''}`;
    try {
      const snap = await requestAPI<ISnapshot>(
        `runs/${id}/notebook`,
        {},
        { path }
      );
      const name = snap.path.split('/').pop() || 'notebook.ipynb';
      show(
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

  const add = (id: string, execute: (args: any) => unknown) =>
    commands.addCommand(id, { execute: args => execute(args) as any });
  add(CommandIDs.openExperiment, ({ name }: { name: string | null }) =>
    show(
      `jp-mlops-experiment-${encodeURIComponent(name ?? '*')}`,
      name ?? 'All runs',
      () => new ExperimentView(services, name ?? null)
    )
  );
  add(CommandIDs.openRun, ({ id }: { id: string }) =>
    show(
      `jp-mlops-run-${id}`,
      `run ${short(id)}`,
      title =>
        new RunView(services, id, run =>
          title(
            runLabel(run),
            `Run ${runLabel(run)} (${run.run_id}) in ${run.experiment}`
          )
        )
    )
  );
  add(CommandIDs.openPipeline, ({ id }: { id: string }) =>
    show(
      `jp-mlops-pipeline-${id}`,
      `pipeline ${short(id)}`,
      title =>
        new PipelineView(services, id, p =>
          title(`${p.name} (pipeline)`, `Pipeline ${p.name}, run ${p.run_id}`)
        )
    )
  );
  add(
    CommandIDs.openModel,
    ({ name, version }: { name: string; version?: number }) =>
      show(
        `jp-mlops-model-${encodeURIComponent(name)}`,
        name,
        () => new ModelView(services, name, version)
      )
  );
  add(CommandIDs.compare, ({ ids }: { ids: string[] }) => {
    const chosen = (ids ?? []).slice(0, MAX_COMPARED);
    return show(
      `jp-mlops-compare-${chosen.join('-')}`,
      `Compare ${chosen.length} runs`,
      title =>
        new CompareView(services, chosen, runs =>
          title(runs.map(runLabel).join(' vs '), `Compare ${runs.length} runs`)
        )
    );
  });
  add(CommandIDs.diff, ({ a, b }: { a: string; b: string }) =>
    show(
      `jp-mlops-diff-${a}-${b}`,
      `Diff ${short(a)} ↔ ${short(b)}`,
      () => new NotebookDiffView(a, b)
    )
  );
  add(CommandIDs.openNotebook, ({ id, path }: { id: string; path?: string }) =>
    openNotebook(id, path)
  );
  // Dataset, Lineage and Schedule: the lab's own openers (governance.tsx), given this ``show``.
  const governance = governanceOpeners(
    (_kind, id, label, make) => show(id, label, make),
    services
  );
  add(CommandIDs.openDataset, args => governance.dataset(args));
  add(CommandIDs.openLineage, args => governance.lineage(args));
  add(CommandIDs.openSchedule, args => governance.schedule(args));

  const navigator = new NavigatorWidget(services);
  navigator.id = 'jp-mlops-sidebar';
  const split = new SplitPanel({ orientation: 'horizontal', spacing: 1 });
  split.id = 'jp-mlops-split';
  split.addWidget(navigator);
  split.addWidget(dock);
  split.setRelativeSizes([1, 4]);

  const top = header(me, signOut);
  const page = new BoxPanel({ direction: 'top-to-bottom', spacing: 0 });
  page.id = 'jp-mlops-standalone';
  BoxLayout.setStretch(top, 0);
  BoxLayout.setSizeBasis(top, 36);
  BoxLayout.setStretch(split, 1);
  page.addWidget(top);
  page.addWidget(split);
  Widget.attach(page, document.body);
  window.addEventListener('resize', () => page.update());

  dock.addWidget(welcome(me));
  openDeepLink(commands, governance);
}

/**
 * ``/?mlops=run/<id>``, ``experiment/<name>``, ``pipeline/<id>``, ``model/<name>[/<version>]``,
 * and the governance views' ``dataset/<name>``, ``lineage/run/<id>``, ``schedule/<name>``.
 */
function openDeepLink(
  commands: CommandRegistry,
  governance: GovernanceOpeners
): void {
  const link = parseDeepLink(window.location.search);
  if (!link) {
    return;
  }
  const { kind, target } = link;
  const open = (id: string, args: Record<string, unknown>) =>
    void commands.execute(id, args as any);
  if (kind === 'run') {
    open(CommandIDs.openRun, { id: target });
  } else if (kind === 'pipeline') {
    open(CommandIDs.openPipeline, { id: target });
  } else if (kind === 'experiment') {
    open(CommandIDs.openExperiment, { name: target });
  } else if (kind === 'model') {
    const [name, version] = target.split('/');
    open(
      CommandIDs.openModel,
      version ? { name, version: Number(version) } : { name }
    );
  } else {
    openGovernanceLink(governance, kind, target);
  }
}

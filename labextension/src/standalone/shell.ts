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

import { onSignedOut } from '../api';
import { CommandIDs, opener } from '../commands';
import { NavigatorWidget } from '../navigator';
import { Show, Titler, openDeepLink, viewOpeners } from '../viewopeners';
import { makeServices } from './services';
import { IWhoAmI } from './whoami';

const ACTION = /^[a-z]+$/;

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
  button.addEventListener('click', () => signOut());
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
export function mountShell(
  me: IWhoAmI,
  signOut: (notice?: string) => void
): void {
  markRole(me);
  let ended = false;
  onSignedOut(() => {
    if (!ended) {
      ended = true; // every view's next request gets the same 401: sign out once
      signOut(
        'The server no longer accepts your token (the user was removed or the token revoked). ' +
          'Sign in again.'
      );
    }
  });
  const commands = new CommandRegistry();
  const services = makeServices(opener(commands));
  const dock = new DockPanelSvg();
  dock.id = 'jp-mlops-dock';

  const find = (id: string) => {
    for (const open of dock.widgets()) {
      if (open.id === id) {
        return open;
      }
    }
    return null;
  };
  const activate = (id: string) => {
    const open = find(id);
    if (open) {
      dock.activateWidget(open);
    }
    return open !== null;
  };
  /** Activate the view ``id`` if it is open, else make it and add it as a tab. */
  const show: Show = (_kind, id, label, make) => {
    if (activate(id)) {
      return find(id);
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

  // The lab's commands, so that links between views and the navigator open them here too.
  const openers = viewOpeners(show, activate, services);
  const commandOf: [string, (args: any) => unknown][] = [
    [CommandIDs.openExperiment, openers.experiment],
    [CommandIDs.openRun, openers.run],
    [CommandIDs.openPipeline, openers.pipeline],
    [CommandIDs.openModel, openers.model],
    [CommandIDs.compare, openers.compare],
    [CommandIDs.diff, openers.diff],
    [CommandIDs.openNotebook, openers.notebook],
    [CommandIDs.openDataset, openers.dataset],
    [CommandIDs.openLineage, openers.lineage],
    [CommandIDs.openSchedule, openers.schedule]
  ];
  for (const [id, execute] of commandOf) {
    commands.addCommand(id, { execute: args => execute(args) as any });
  }

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
  openDeepLink(openers, window.location.search);
}

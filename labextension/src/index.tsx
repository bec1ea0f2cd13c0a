/**
 * jupyter-mlops: the MLOps navigator in the left sidebar, and the main-area views it opens:
 * Experiment, Run, Compare, Notebook diff, Pipeline, Model, the read-only notebook snapshot, and
 * Dataset, Lineage and Schedule (governance.tsx); "Schedule…" in a notebook's toolbar.
 * Every view is opened by a command (the palette's "MLOps: Open run…", the navigator, links
 * between views, deep links such as /lab?mlops=run/<id>), tracked, and restored after a reload.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IThemeManager,
  InputDialog,
  MainAreaWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import {
  IExperiment,
  IModel,
  IPipelineRun,
  IRunsPage,
  filterString,
  requestAPI,
  short,
  when
} from './api';
import { CommandIDs, opener } from './commands';
import {
  ChangeFeed,
  DEFAULT_SETTINGS,
  IServices,
  ISettings,
  SettingsSource,
  ThemeWatch
} from './components/services';
import { GOVERNANCE_COMMANDS, addGovernanceCommands } from './governance';
import { NavigatorWidget } from './navigator';
import { addScheduleNotebook } from './schedulenotebook';
import { untrustedRenderMime } from './views/snapshot';
import {
  IViewContent,
  Titler,
  ViewKind,
  openDeepLink,
  viewOpeners
} from './viewopeners';

const PLUGIN_ID = 'jupyter-mlops:plugin';
const RESTORE = 'jupyter-mlops:restore-view';

const mlopsIcon = new LabIcon({
  name: 'jupyter-mlops:icon',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="3" y="13" width="4" height="8" rx="1"/><rect x="10" y="8" width="4" height="13" rx="1"/>' +
    '<rect x="17" y="3" width="4" height="18" rx="1"/></g></svg>'
});

function readSettings(loaded: ISettingRegistry.ISettings): ISettings {
  return {
    refreshInterval:
      (loaded.get('refreshInterval').composite as number) ??
      DEFAULT_SETTINGS.refreshInterval,
    pageSize:
      (loaded.get('pageSize').composite as number) ?? DEFAULT_SETTINGS.pageSize,
    hiddenColumns:
      (loaded.get('hiddenColumns').composite as Record<string, string[]>) ?? {},
    groupBy: (loaded.get('groupBy').composite as Record<string, string>) ?? {}
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Experiments, runs, pipelines and models of jupyter_mlops in JupyterLab.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [ISettingRegistry, ILayoutRestorer, ICommandPalette, IThemeManager],
  activate: async (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    registry: ISettingRegistry | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    themes: IThemeManager | null
  ) => {
    const settings = new SettingsSource();
    const theme = new ThemeWatch();
    // The theme's CSS lands after the signal: read the colours again once it has.
    themes?.themeChanged.connect(() => {
      theme.bump();
      window.setTimeout(() => theme.bump(), 300);
    });
    const services: IServices = {
      open: opener(app.commands),
      rendermime: untrustedRenderMime(rendermime),
      settings,
      theme,
      changes: new ChangeFeed(settings)
    };
    const tracker = new WidgetTracker<MainAreaWidget<IViewContent>>({
      namespace: 'jupyter-mlops'
    });
    const kinds = new WeakMap<Widget, ViewKind>();
    let restored = false;
    void app.restored.then(() => {
      restored = true;
    });

    /** Activate the view ``id`` if it is open, else make it and add it to the main area. */
    const show = (
      kind: ViewKind,
      id: string,
      label: string,
      make: (title: Titler) => IViewContent
    ) => {
      const open = tracker.find(w => w.id === id);
      if (open) {
        app.shell.activateById(id);
        return open;
      }
      let widget: MainAreaWidget<IViewContent> | null = null;
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
      widget.title.icon = mlopsIcon;
      widget.title.closable = true;
      kinds.set(widget, kind);
      void tracker.add(widget);
      // While the layout restorer reopens views it picks the current tab itself: activating each
      // one as it comes back would move the focus (closing a palette or menu the user has open).
      app.shell.add(widget, 'main', { activate: restored });
      if (restored) {
        app.shell.activateById(id);
      }
      return widget;
    };

    const activate = (id: string) => {
      if (!tracker.find(w => w.id === id)) {
        return false;
      }
      app.shell.activateById(id);
      return true;
    };
    const openers = viewOpeners(show, activate, services);

    const pick = async (
      title: string,
      items: { label: string; value: string }[]
    ) => {
      if (items.length === 0) {
        window.alert(`${title}: there is nothing to open yet.`);
        return null;
      }
      const result = await InputDialog.getItem({
        title,
        items: items.map(i => i.label)
      });
      return result.button.accept
        ? (items.find(i => i.label === result.value)?.value ?? null)
        : null;
    };

    app.commands.addCommand(CommandIDs.openExperiment, {
      label: args =>
        args.name !== undefined ? 'Open experiment' : 'MLOps: Open experiment…',
      execute: async args => {
        if (args.name !== undefined) {
          return openers.experiment({ name: args.name as string | null });
        }
        const { experiments } = await requestAPI<{
          experiments: IExperiment[];
        }>('experiments');
        const name = await pick(
          'Open experiment',
          experiments.map(e => ({
            label: `${e.name} (${e.runs} runs)`,
            value: e.name
          }))
        );
        return name !== null ? openers.experiment({ name }) : undefined;
      }
    });
    app.commands.addCommand(CommandIDs.openRun, {
      label: args => (args.id ? 'Open run' : 'MLOps: Open run…'),
      execute: async args => {
        if (args.id) {
          return openers.run({ id: args.id as string });
        }
        const result = await InputDialog.getText({
          title: 'Open run',
          placeholder: 'run name, id or id prefix'
        });
        const text = result.button.accept ? (result.value ?? '').trim() : '';
        if (!text) {
          return;
        }
        const found = await requestAPI<IRunsPage>(
          'runs',
          {},
          {
            filter: `name = ${filterString(text)} OR id LIKE ${filterString(`${text.replace(/[%_]/g, '')}%`)}`,
            page_size: 1
          }
        );
        if (found.runs.length === 0) {
          window.alert(
            `No run is named ${text} or has an id starting with it.`
          );
          return;
        }
        return openers.run({ id: found.runs[0].run_id });
      }
    });
    app.commands.addCommand(CommandIDs.openPipeline, {
      label: args =>
        args.id ? 'Open pipeline run' : 'MLOps: Open pipeline run…',
      execute: async args => {
        if (args.id) {
          return openers.pipeline({ id: args.id as string });
        }
        const { pipelines } = await requestAPI<{ pipelines: IPipelineRun[] }>(
          'pipelines',
          {},
          { limit: 50 }
        );
        const id = await pick(
          'Open pipeline run',
          pipelines.map(p => ({
            label: `${p.name} · ${p.status} · ${when(p.start_time)} · ${short(p.run_id)}`,
            value: p.run_id
          }))
        );
        return id ? openers.pipeline({ id }) : undefined;
      }
    });
    app.commands.addCommand(CommandIDs.openModel, {
      label: args => (args.name ? 'Open model' : 'MLOps: Open model…'),
      execute: async args => {
        if (args.name) {
          return openers.model({
            name: args.name as string,
            version: args.version as number | undefined
          });
        }
        const { models } = await requestAPI<{ models: IModel[] }>('models');
        const name = await pick(
          'Open model',
          models.map(m => ({ label: m.name, value: m.name }))
        );
        return name ? openers.model({ name }) : undefined;
      }
    });
    app.commands.addCommand(CommandIDs.compare, {
      label: 'MLOps: Compare runs',
      execute: args => openers.compare({ ids: (args.ids as string[]) ?? [] })
    });
    app.commands.addCommand(CommandIDs.diff, {
      label: 'MLOps: Notebook diff of two runs',
      execute: args =>
        openers.diff({ a: args.a as string, b: args.b as string })
    });
    app.commands.addCommand(CommandIDs.openNotebook, {
      label: 'MLOps: Open a run notebook (read-only)',
      execute: args =>
        openers.notebook({
          id: args.id as string,
          path: args.path as string | undefined
        })
    });
    addGovernanceCommands(app, openers, pick);
    addScheduleNotebook(app, services.open, palette);
    app.commands.addCommand(RESTORE, {
      label: 'Restore an MLOps view',
      execute: args => {
        const kind = args.kind as ViewKind;
        return kind in openers ? openers[kind](args) : undefined;
      }
    });

    const sidebar = new NavigatorWidget(services);
    sidebar.id = 'jp-mlops-sidebar';
    sidebar.title.icon = mlopsIcon;
    sidebar.title.caption = 'MLOps: experiments, pipelines, models';
    app.shell.add(sidebar, 'left', { rank: 600 });
    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'MLOps: Show the navigator',
      execute: () => app.shell.activateById(sidebar.id)
    });

    if (palette) {
      for (const command of [
        CommandIDs.openExperiment,
        CommandIDs.openRun,
        CommandIDs.openPipeline,
        CommandIDs.openModel,
        ...GOVERNANCE_COMMANDS,
        CommandIDs.openSidebar
      ]) {
        palette.addItem({ command, category: 'MLOps' });
      }
    }
    if (restorer) {
      restorer.add(sidebar, 'jp-mlops-sidebar');
      void restorer.restore(tracker, {
        command: RESTORE,
        args: widget => ({
          kind: kinds.get(widget) ?? 'run',
          ...widget.content.args
        }),
        name: widget => widget.id
      });
    }

    if (registry) {
      try {
        const loaded = await registry.load(PLUGIN_ID);
        settings.update(readSettings(loaded));
        loaded.changed.connect(() => settings.update(readSettings(loaded)));
        settings.save = async (key, value) => {
          await loaded.set(key, value as any);
        };
      } catch (reason) {
        console.warn(
          'jupyter-mlops: settings not loaded, using defaults',
          reason
        );
      }
    }

    // Deep links: /lab?mlops=run/<id> and the rest (viewopeners.ts), once the layout is back.
    void app.restored.then(() => {
      if (openDeepLink(openers, window.location.search)) {
        const url = new URL(window.location.href);
        url.searchParams.delete('mlops');
        window.history.replaceState(window.history.state, '', url.toString());
      }
    });
  }
};

export default plugin;

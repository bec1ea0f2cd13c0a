/**
 * jupyter-mlops: a left-sidebar icon with the Experiments, Pipelines and Models panels, and
 * main-area views to compare runs and diff their notebooks.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon, ReactWidget } from '@jupyterlab/ui-components';
import { TabPanel, Widget } from '@lumino/widgets';
import * as React from 'react';

import { requestAPI, short } from './api';
import { CompareView } from './panels/compare';
import { IPanelSettings, IViewActions } from './panels/common';
import { ExperimentsPanel } from './panels/experiments';
import { ModelsPanel } from './panels/models';
import { NotebookDiffView } from './panels/nbdiff';
import { PipelinesPanel } from './panels/pipelines';
import { ISnapshot, SnapshotView, untrustedRenderMime } from './panels/snapshot';

const PLUGIN_ID = 'jupyter-mlops:plugin';

const mlopsIcon = new LabIcon({
  name: 'jupyter-mlops:icon',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="3" y="13" width="4" height="8" rx="1"/><rect x="10" y="8" width="4" height="13" rx="1"/>' +
    '<rect x="17" y="3" width="4" height="18" rx="1"/></g></svg>'
});

/** A React panel that re-renders when the settings change. */
class SettingsAware extends ReactWidget {
  constructor(
    private readonly render_: (s: IPanelSettings) => JSX.Element,
    private settings: IPanelSettings
  ) {
    super();
  }
  update(settings?: IPanelSettings): void {
    if (settings) {
      this.settings = settings;
    }
    super.update();
  }
  render(): JSX.Element {
    return this.render_(this.settings);
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Experiments, pipelines and models of jupyter_mlops in the sidebar.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [ISettingRegistry, ILayoutRestorer],
  activate: async (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    registry: ISettingRegistry | null,
    restorer: ILayoutRestorer | null
  ) => {
    let settings: IPanelSettings = { refreshInterval: 2, pageSize: 50 };
    const untrusted = untrustedRenderMime(rendermime);

    const isOpen = (id: string) => {
      const open = Array.from(app.shell.widgets('main')).some(w => w.id === id);
      if (open) {
        app.shell.activateById(id);
      }
      return open;
    };
    const addToMain = (id: string, label: string, content: Widget) => {
      content.addClass('jp-mlops-main');
      const widget = new MainAreaWidget({ content });
      widget.id = id;
      widget.title.label = label;
      widget.title.icon = mlopsIcon;
      widget.title.closable = true;
      app.shell.add(widget, 'main');
      app.shell.activateById(id);
    };
    const openInMain = (id: string, label: string, element: JSX.Element) => {
      if (!isOpen(id)) {
        addToMain(id, label, ReactWidget.create(element));
      }
    };

    const actions: IViewActions = {
      compare: ids =>
        openInMain(`jp-mlops-compare-${ids.join('-')}`, `Compare ${ids.length} runs`, <CompareView runIds={ids} />),
      diff: (a, b) =>
        openInMain(`jp-mlops-diff-${a}-${b}`, `Diff ${short(a)}…${short(b)}`, <NotebookDiffView a={a} b={b} />),
      openNotebook: async runId => {
        // Read-only and untrusted, never a working copy (see panels/snapshot.ts).
        const id = `jp-mlops-snapshot-${runId}`;
        if (isOpen(id)) {
          return;
        }
        try {
          const snap = await requestAPI<ISnapshot>(`runs/${runId}/notebook`);
          const name = snap.path.split('/').pop() || 'notebook.ipynb';
          addToMain(id, `${name} (run ${short(snap.run_id)}, read-only)`, new SnapshotView(snap, untrusted));
        } catch (e: any) {
          window.alert(`Cannot open the notebook of run ${short(runId)}: ${e.message}`);
        }
      }
    };

    const experiments = new SettingsAware(s => <ExperimentsPanel settings={s} actions={actions} />, settings);
    experiments.title.label = 'Experiments';
    experiments.id = 'jp-mlops-experiments';
    const pipelines = new SettingsAware(s => <PipelinesPanel settings={s} actions={actions} />, settings);
    pipelines.title.label = 'Pipelines';
    pipelines.id = 'jp-mlops-pipelines';
    const models = new SettingsAware(s => <ModelsPanel settings={s} />, settings);
    models.title.label = 'Models';
    models.id = 'jp-mlops-models';
    const panels = [experiments, pipelines, models];

    const sidebar = new TabPanel();
    sidebar.id = 'jp-mlops-sidebar';
    sidebar.addClass('jp-mlops-sidebar');
    sidebar.title.icon = mlopsIcon;
    sidebar.title.caption = 'MLOps: experiments, pipelines, models';
    panels.forEach(p => sidebar.addWidget(p));
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, 'jp-mlops-sidebar');

    app.commands.addCommand('jupyter-mlops:open', {
      label: 'Open the MLOps sidebar',
      execute: () => app.shell.activateById(sidebar.id)
    });

    if (registry) {
      try {
        const loaded = await registry.load(PLUGIN_ID);
        const apply = () => {
          settings = {
            refreshInterval: loaded.get('refreshInterval').composite as number,
            pageSize: loaded.get('pageSize').composite as number
          };
          panels.forEach(p => p.update(settings));
        };
        apply();
        loaded.changed.connect(apply);
      } catch (reason) {
        console.warn('jupyter-mlops: settings not loaded, using defaults', reason);
      }
    }
  }
};

export default plugin;

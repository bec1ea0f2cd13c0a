/**
 * "Schedule…": run the open notebook on a cron, as a one-step pipeline (what ``jupyter mlops
 * schedule add NOTEBOOK`` makes). In the notebook's toolbar, its context menu and the command
 * palette. The dialog asks for a name, a cron expression, a time zone and values for the
 * notebook's parameters cell; the server checks them all, and a refusal comes back into the
 * dialog with the field it names marked. Once made, the Schedule view opens.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, ICommandPalette, showDialog } from '@jupyterlab/apputils';
import { ReactWidget, ToolbarButton } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { ApiError, postAPI, requestAPI } from './api';
import { CommandIDs, IOpener } from './commands';
import { ISchedule } from './views/schedule';

/** What the server tells the dialog about a notebook (``GET schedule-form``). */
interface IScheduleForm {
  notebook: string;
  has_parameters_cell: boolean;
  /** Each parameter's default as the parameters cell writes it (null: annotated only). */
  parameters: Record<string, string | null>;
  placeholders: string[];
}

interface IDraft {
  name: string;
  cron: string;
  timezone: string;
  parameters: Record<string, string>;
}

interface IRefused {
  message: string;
  field: string | null;
}

const DEFAULT_CRON = '0 6 * * *';

/** A document widget's toolbar (a notebook panel has one; typed here without @jupyterlab/notebook). */
interface IHasToolbar {
  toolbar: { insertItem(index: number, name: string, widget: Widget): boolean };
}

/** The schedule name the server would choose from the notebook's file name. */
export function defaultScheduleName(path: string): string {
  const stem = (path.split('/').pop() ?? '').replace(/\.ipynb$/, '');
  return (
    stem
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
      .slice(0, 128) || 'schedule'
  );
}

function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

function ScheduleForm(props: {
  path: string;
  form: IScheduleForm;
  initial: IDraft;
  refused: IRefused | null;
  dirty: boolean;
  onChange: (draft: IDraft) => void;
}): JSX.Element {
  const [draft, setDraft] = React.useState(props.initial);
  const update = (change: Partial<IDraft>) => {
    const next = { ...draft, ...change };
    setDraft(next);
    props.onChange(next);
  };
  const field = props.refused?.field ?? null;
  // The refused field stays marked until it is edited. (Not .jp-mod-error: the dialog would
  // disable its Schedule button for it, and the server is the one to judge the new value.)
  const marked = (name: 'name' | 'cron' | 'timezone') =>
    field === name && draft[name] === props.initial[name]
      ? 'jp-mlops-input jp-mlops-invalid'
      : 'jp-mlops-input';
  const names = Object.keys(props.form.parameters);
  return (
    <div className="jp-mlops-schedule-form">
      {props.refused && (
        <div
          className="jp-mlops-error jp-mlops-schedule-error"
          role="alert"
          data-field={field ?? ''}
        >
          {props.refused.message}
        </div>
      )}
      <div className="jp-mlops-muted">
        Runs {props.path} as saved on disk, as a one-step pipeline, while a
        scheduler runs (jupyter mlops scheduler).
        {props.dirty ? ' It has unsaved changes: save it first.' : ''}
      </div>
      <label>
        name
        <input
          className={`${marked('name')} jp-mlops-schedule-name`}
          value={draft.name}
          aria-invalid={field === 'name'}
          onChange={e => update({ name: e.target.value })}
        />
      </label>
      <label>
        cron (minute hour day month weekday)
        <input
          className={`${marked('cron')} jp-mlops-schedule-cron`}
          value={draft.cron}
          placeholder={DEFAULT_CRON}
          aria-invalid={field === 'cron'}
          onChange={e => update({ cron: e.target.value })}
        />
      </label>
      <label>
        time zone
        <input
          className={`${marked('timezone')} jp-mlops-schedule-timezone`}
          value={draft.timezone}
          placeholder="UTC"
          aria-invalid={field === 'timezone'}
          onChange={e => update({ timezone: e.target.value })}
        />
      </label>
      {names.length > 0 && (
        <fieldset
          className={`jp-mlops-schedule-parameters ${field === 'parameters' ? 'jp-mlops-invalid' : ''}`}
        >
          <legend>
            parameters (empty: the notebook's default; templates:{' '}
            {props.form.placeholders.join(' ')})
          </legend>
          {names.map(name => (
            <label key={name} data-parameter={name}>
              {name}
              <input
                className="jp-mlops-input"
                value={draft.parameters[name] ?? ''}
                placeholder={props.form.parameters[name] ?? ''}
                onChange={e =>
                  update({
                    parameters: { ...draft.parameters, [name]: e.target.value }
                  })
                }
              />
            </label>
          ))}
        </fieldset>
      )}
    </div>
  );
}

class ScheduleDialogBody
  extends ReactWidget
  implements Dialog.IBodyWidget<IDraft>
{
  constructor(
    private readonly path: string,
    private readonly form: IScheduleForm,
    private draft: IDraft,
    private readonly refused: IRefused | null,
    private readonly dirty: boolean
  ) {
    super();
    this.addClass('jp-mlops-schedule-dialog');
  }

  getValue(): IDraft {
    return this.draft;
  }

  render(): JSX.Element {
    return (
      <ScheduleForm
        path={this.path}
        form={this.form}
        initial={this.draft}
        refused={this.refused}
        dirty={this.dirty}
        onChange={draft => {
          this.draft = draft;
        }}
      />
    );
  }
}

/** Ask for the schedule until the server takes it (or the user cancels); then open it. */
export async function scheduleNotebook(
  path: string,
  open: IOpener,
  dirty = false
): Promise<ISchedule | null> {
  let form: IScheduleForm;
  try {
    form = await requestAPI<IScheduleForm>(
      'schedule-form',
      {},
      { notebook: path }
    );
  } catch (e: any) {
    await showDialog({
      title: 'Cannot schedule this notebook',
      body: e.message,
      buttons: [Dialog.okButton()]
    });
    return null;
  }
  let draft: IDraft = {
    name: defaultScheduleName(path),
    cron: DEFAULT_CRON,
    timezone: browserTimeZone(),
    parameters: {}
  };
  let refused: IRefused | null = null;
  for (;;) {
    const result = await showDialog({
      title: `Schedule ${path.split('/').pop()}`,
      body: new ScheduleDialogBody(path, form, draft, refused, dirty),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Schedule' })],
      focusNodeSelector: '.jp-mlops-schedule-cron'
    });
    if (!result.button.accept) {
      return null;
    }
    draft = result.value ?? draft;
    const parameters = Object.fromEntries(
      Object.entries(draft.parameters).filter(([, v]) => v.trim() !== '')
    );
    try {
      const made = await postAPI<{ schedule: ISchedule }>('schedules', {
        notebook: path,
        name: draft.name.trim() || undefined,
        cron: draft.cron.trim(),
        timezone: draft.timezone.trim() || undefined,
        parameters
      });
      open.schedule(made.schedule.name);
      return made.schedule;
    } catch (e: any) {
      const data = e instanceof ApiError ? e.data : {};
      refused = {
        message: e.message ?? String(e),
        field: typeof data.field === 'string' ? data.field : null
      };
    }
  }
}

/** The notebook in the main area now, if the current widget is one: its path and whether it is dirty. */
function currentNotebook(
  app: JupyterFrontEnd
): { path: string; dirty: boolean } | null {
  const widget = app.shell.currentWidget as any;
  const path = widget?.context?.path;
  if (typeof path !== 'string' || !path.endsWith('.ipynb')) {
    return null;
  }
  return { path, dirty: !!widget.context.model?.dirty };
}

/** The command, its palette entry, the notebook context menu item and toolbar button. */
export function addScheduleNotebook(
  app: JupyterFrontEnd,
  open: IOpener,
  palette: ICommandPalette | null
): void {
  app.commands.addCommand(CommandIDs.scheduleNotebook, {
    label: args => (args.path ? 'Schedule…' : 'MLOps: Schedule this notebook…'),
    caption: 'Run this notebook on a schedule (a one-step pipeline)',
    isEnabled: args => !!args.path || currentNotebook(app) !== null,
    execute: args => {
      const current = currentNotebook(app);
      const path = (args.path as string | undefined) ?? current?.path;
      if (!path) {
        return;
      }
      const dirty =
        current?.path === path ? current.dirty : !!(args.dirty as boolean);
      return scheduleNotebook(path, open, dirty);
    }
  });
  palette?.addItem({ command: CommandIDs.scheduleNotebook, category: 'MLOps' });
  app.contextMenu.addItem({
    command: CommandIDs.scheduleNotebook,
    selector: '.jp-Notebook',
    rank: 100
  });
  app.docRegistry.addWidgetExtension('Notebook', {
    createNew: (panel, context) => {
      const button = new ToolbarButton({
        className: 'jp-mlops-schedule-button',
        label: 'Schedule…',
        tooltip: 'MLOps: run this notebook on a schedule',
        onClick: () =>
          void app.commands.execute(CommandIDs.scheduleNotebook, {
            path: context.path,
            dirty: context.model.dirty
          })
      });
      (panel as unknown as IHasToolbar).toolbar.insertItem(
        10,
        'mlops-schedule',
        button
      );
      return button;
    }
  });
}

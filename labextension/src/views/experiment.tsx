/**
 * Experiment view (main area): the experiment's runs in a full-width, virtualised table with
 * a filter box, a column chooser and a grouping by a parameter (one row per value with the
 * metrics' mean ± std, expandable to its runs) both saved per experiment, CSV export of what
 * the filter keeps, compare / notebook-diff of the selected runs, and the charts panel below.
 * Live: when the store's change cursor moves, the rows in view reload in place (no reset, no
 * scroll jump).
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { SettingManager } from '@jupyterlab/services';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message, MessageLoop } from '@lumino/messaging';
import { Panel, SplitPanel, Widget } from '@lumino/widgets';
import * as React from 'react';

import {
  IColumnKeys,
  postAPI,
  requestAPI,
  requestBlob,
  saveBlob
} from '../api';
import { Brush } from '../components/parallel';
import { ChartsPanel, brushFilter } from '../components/chartspanel';
import { ColumnChooser } from '../components/columnchooser';
import { FilterBox } from '../components/filterbox';
import {
  ATTRIBUTES,
  IColumn,
  ITableQuery,
  PINNED,
  RunsModel,
  RunsTable,
  keyColumn
} from '../components/runsgrid';
import { IServices, ServicesContext, unlessSame } from '../components/services';

/** Hidden until the user shows them (for an experiment with no saved choice). */
const HIDDEN_BY_DEFAULT = ['id', 'source'];
/** The settings key of the table of every experiment. */
const ALL = '*';
const MAX_COMPARE = 20;
/** The plugin's settings (schema/plugin.json). */
const PLUGIN_ID = 'jupyter-mlops:plugin';
let savedGroupBy: Promise<Record<string, string>> | null = null;

/**
 * Each experiment's grouping as saved in the user's settings (``groupBy``), from the settings the
 * plugin read; a view restored before the plugin's settings have loaded reads the saved value
 * once from JupyterLab's settings API instead.
 */
function savedGroupings(services: IServices): Promise<Record<string, string>> {
  const current = services.settings.current.groupBy;
  if (current) {
    return Promise.resolve(current);
  }
  savedGroupBy =
    savedGroupBy ??
    new SettingManager()
      .fetch(PLUGIN_ID)
      .then(plugin => {
        const saved = (
          plugin as unknown as { settings?: { groupBy?: unknown } }
        ).settings?.groupBy;
        return Object.fromEntries(
          Object.entries(
            saved && typeof saved === 'object' ? saved : {}
          ).filter(([, by]) => typeof by === 'string')
        ) as Record<string, string>;
      })
      .catch(() => ({}));
  return savedGroupBy;
}

type Lifecycle = 'active' | 'archived' | 'deleted';

export class ExperimentView extends Panel {
  readonly model: RunsModel;
  readonly table: RunsTable;
  private keys: IColumnKeys = { params: [], metrics: [], tags: [] };
  private baseFilter = '';
  private brushes: Brush[] = [];
  private sort: { sort: string; descending: boolean } | null = null;
  private error: string | null = null;
  private dirty = false;
  /** The first rows arrived: the charts panel may load. */
  rowsShown = false;
  /** Which runs the table lists: the active ones, or the archived or deleted ones (to restore). */
  private shown: Lifecycle = 'active';
  /** Columns hidden in this view since it opened (the settings catch up after their save). */
  private hidden: string[] | null = null;
  private readonly toolbar: ReactWidget;
  private readonly charts: ReactWidget;
  private readonly unsubscribe: () => void;
  private readonly resize: ResizeObserver;

  constructor(
    private readonly services: IServices,
    readonly experiment: string | null
  ) {
    super();
    this.addClass('jp-mlops-experiment-view');
    this.node.dataset.experiment = experiment ?? '';
    this.model = new RunsModel(services.settings.current.pageSize);
    this.table = new RunsTable(this.model, {
      open: id => services.open.run(id),
      sort: column => this.sortBy(column)
    });
    this.toolbar = new Part(services, () => <Toolbar view={this} />);
    this.toolbar.addClass('jp-mlops-experiment-toolbar');
    this.charts = new Part(services, () => <Charts view={this} />);
    this.charts.addClass('jp-mlops-charts-host');
    const split = new SplitPanel({ orientation: 'vertical', spacing: 4 });
    split.addClass('jp-mlops-experiment-split');
    split.addWidget(this.table);
    split.addWidget(this.charts);
    split.setRelativeSizes([3, 2]);
    this.addWidget(this.toolbar);
    this.addWidget(split);
    // The toolbar's height follows its content (a filter error, the brushed ranges): the split
    // below takes what is left (CSS flex) and is told when that changes.
    this.resize = new ResizeObserver(() =>
      MessageLoop.sendMessage(split, Widget.ResizeMessage.UnknownSize)
    );
    this.resize.observe(split.node);

    this.model.selectionChanged.connect(() => this.refreshPanels());
    this.unsubscribe = services.changes.subscribe((_, moved) => {
      this.dirty = this.dirty || moved;
      if (this.dirty && this.isVisible) {
        void this.live();
      }
    });
    services.theme.changed.connect(() => this.table.applyTheme());
    void this.start();
  }

  /** What the command that opened this view was given (restored after a reload). */
  get args(): { name: string | null } {
    return { name: this.experiment };
  }

  get total(): number {
    return this.model.total;
  }

  get filterError(): string | null {
    return this.error;
  }

  get columnKeys(): IColumnKeys {
    return this.keys;
  }

  get filter(): string {
    return this.baseFilter;
  }

  get brushed(): Brush[] {
    return this.brushes;
  }

  /** Every column the chooser offers, in table order. */
  allColumns(): IColumn[] {
    return [
      ...ATTRIBUTES,
      ...this.keys.params.map(k => keyColumn('params', k)),
      ...this.keys.metrics.map(k => keyColumn('metrics', k)),
      ...this.keys.tags.map(k => keyColumn('tags', k))
    ];
  }

  hiddenColumns(): string[] {
    return (
      this.hidden ??
      this.services.settings.current.hiddenColumns[this.experiment ?? ALL] ??
      HIDDEN_BY_DEFAULT
    );
  }

  /** Hide these columns now, and remember them for this experiment in the user's settings. */
  async hideColumns(hidden: string[]): Promise<void> {
    const all = {
      ...this.services.settings.current.hiddenColumns,
      [this.experiment ?? ALL]: hidden
    };
    this.hidden = hidden;
    this.applyColumns(hidden);
    await this.services.settings.save('hiddenColumns', all);
  }

  /** The parameter the table is grouped by (``params.C``), or null. */
  get groupBy(): string | null {
    return this.model.groupBy;
  }

  get groupCount(): number {
    return this.model.groupTotal;
  }

  /** Group the table by a parameter (or not), and remember it for this experiment. */
  async setGroupBy(by: string | null): Promise<void> {
    this.model.setGrouping(by);
    const key = this.experiment ?? ALL;
    const all = { ...(await savedGroupings(this.services)), [key]: by ?? '' };
    savedGroupBy = Promise.resolve(all);
    await Promise.all([
      this.reload(),
      this.services.settings.save('groupBy', all)
    ]);
  }

  query(withBrush = true): ITableQuery {
    const brush = withBrush ? brushFilter(this.brushes) : '';
    const clauses = [
      this.baseFilter ? `(${this.baseFilter})` : '',
      brush,
      this.shown === 'active' ? '' : `lifecycle = '${this.shown}'`
    ].filter(Boolean);
    const filter =
      clauses.length === 1 && clauses[0] === `(${this.baseFilter})`
        ? this.baseFilter
        : clauses.join(' AND ');
    return {
      experiment: this.experiment,
      filter,
      sort: this.sort?.sort ?? null,
      descending: this.sort?.descending ?? true
    };
  }

  async applyFilter(filter: string): Promise<void> {
    this.baseFilter = filter.trim();
    await this.reload();
  }

  async setBrushes(brushes: Brush[]): Promise<void> {
    this.brushes = brushes;
    await this.reload();
  }

  sortBy(column: IColumn): void {
    const same = this.sort?.sort === column.sort;
    this.sort = {
      sort: column.sort!,
      descending: same ? !this.sort!.descending : false
    };
    void this.reload();
  }

  get lifecycle(): Lifecycle {
    return this.shown;
  }

  async showLifecycle(lifecycle: Lifecycle): Promise<void> {
    this.shown = lifecycle;
    this.model.clearSelection();
    await this.reload();
  }

  /** Archive, delete or restore the selected runs (deleting asks first); the table follows. */
  async changeLifecycle(
    action: 'archive' | 'delete' | 'restore'
  ): Promise<void> {
    const ids = this.selection();
    if (ids.length === 0) {
      return;
    }
    if (action === 'delete') {
      const answer = await showDialog({
        title: `Delete ${ids.length} run${ids.length > 1 ? 's' : ''}?`,
        body:
          'Deleted runs (and their pipeline steps) leave every listing; they can be restored until ' +
          '`jupyter mlops gc` collects them. A run a model version was made from is never deleted.',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
      });
      if (!answer.button.accept) {
        return;
      }
    }
    await postAPI('bulk/lifecycle', { action, run_ids: ids });
    this.model.clearSelection();
    await this.reload();
  }

  /** Set one tag on the selected runs (asks for ``key=value``). */
  async tagSelected(): Promise<void> {
    const ids = this.selection();
    const answer = await InputDialog.getText({
      title: `Tag ${ids.length} run${ids.length > 1 ? 's' : ''}`,
      placeholder: 'key=value'
    });
    const text = answer.button.accept ? (answer.value ?? '').trim() : '';
    const eq = text.indexOf('=');
    if (eq < 1) {
      return;
    }
    await postAPI('bulk/tags', {
      run_ids: ids,
      key: text.slice(0, eq).trim(),
      value: text.slice(eq + 1).trim()
    });
    await this.live();
  }

  selection(): string[] {
    return Array.from(this.model.selection);
  }

  compare(): void {
    const ids = this.selection().slice(0, MAX_COMPARE);
    if (ids.length >= 2) {
      this.services.open.compare(ids);
    }
  }

  diff(): void {
    const ids = this.selection();
    if (ids.length === 2) {
      this.services.open.diff(ids[0], ids[1]);
    }
  }

  /** The filtered table, as the columns shown, as a CSV download. */
  async exportCSV(): Promise<void> {
    const hidden = new Set(this.hiddenColumns());
    const columns = [
      ...PINNED.filter(c => c.id !== 'select').map(c => c.id),
      ...this.allColumns()
        .filter(c => !hidden.has(c.id))
        .map(c => c.id)
    ];
    const q = this.query();
    const blob = await requestBlob('table/export', {
      columns: JSON.stringify(columns),
      experiment: q.experiment ?? undefined,
      filter: q.filter || undefined,
      sort: q.sort ?? undefined,
      order: q.sort ? (q.descending ? 'desc' : 'asc') : undefined
    });
    saveBlob(blob, `${this.experiment ?? 'runs'}.csv`);
  }

  dispose(): void {
    this.unsubscribe();
    this.resize.disconnect();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.dirty) {
      void this.live();
    }
  }

  private async start(): Promise<void> {
    // The keys (columns) and the first rows load side by side; the charts wait for the rows,
    // so the table is not queued behind their heavier requests. Grouped, the groups carry
    // the shown metrics' aggregates: they wait for the columns.
    const saved = (await savedGroupings(this.services))[this.experiment ?? ALL];
    this.model.setGrouping(saved || null);
    if (this.model.groupBy) {
      await this.loadKeys();
      await this.reload();
    } else {
      await Promise.all([this.loadKeys(), this.reload()]);
    }
  }

  private async loadKeys(): Promise<void> {
    try {
      this.keys = await requestAPI<IColumnKeys>(
        'table/keys',
        {},
        { experiment: this.experiment ?? undefined }
      );
    } catch (e: any) {
      this.error = e.message;
    }
    this.applyColumns(this.hiddenColumns());
  }

  private applyColumns(hidden: string[]): void {
    const hide = new Set(hidden);
    this.model.setColumns(this.allColumns().filter(c => !hide.has(c.id)));
    this.refreshPanels();
  }

  private async reload(): Promise<void> {
    this.error = await this.model.setQuery(this.query());
    this.table.toggleClass('jp-mlops-stale', this.error !== null);
    if (!this.rowsShown && this.error === null) {
      // The charts' requests and drawing wait until the grid has painted its first rows: started
      // at once, their work on the page delayed the rows by half a second (bench_lab.py).
      this.toolbar.update();
      if (this.model.total > 0) {
        await this.table.whenRowsPainted();
      }
      this.rowsShown = true;
    }
    this.refreshPanels();
  }

  /** The store changed: reload the keys and the rows in view, in place. */
  async live(): Promise<void> {
    this.dirty = false;
    const before = this.keys;
    try {
      // The same keys keep their object: the charts then see no change and draw nothing again.
      this.keys = unlessSame(
        before,
        await requestAPI<IColumnKeys>(
          'table/keys',
          {},
          { experiment: this.experiment ?? undefined }
        )
      );
    } catch {
      return;
    }
    if (this.keys !== before) {
      this.applyColumns(this.hiddenColumns());
    }
    if (this.error === null) {
      const [first, last] = this.table.visibleRows();
      await this.model.refresh(Math.max(0, first), Math.max(0, last));
    }
    this.refreshPanels();
  }

  private refreshPanels(): void {
    this.toolbar.update();
    this.charts.update();
  }
}

/** A React part of the view, drawn afresh (from the view's state) on every update. */
class Part extends ReactWidget {
  constructor(
    private readonly services: IServices,
    private readonly draw: () => JSX.Element
  ) {
    super();
  }

  render(): JSX.Element {
    return (
      <ServicesContext.Provider value={this.services}>
        {this.draw()}
      </ServicesContext.Provider>
    );
  }
}

function Toolbar(props: { view: ExperimentView }): JSX.Element {
  const view = props.view;
  const selected = view.selection();
  const [failure, setFailure] = React.useState<string | null>(null);
  const attempt = (action: Promise<void>) =>
    action.then(() => setFailure(null)).catch(e => setFailure(e.message));
  const bulk = (action: 'archive' | 'delete' | 'restore', label: string) => (
    <button
      key={action}
      className={`jp-mlops-button jp-mlops-${action}`}
      onClick={() => attempt(view.changeLifecycle(action))}
      title={`${label} the selected runs (and their pipeline steps)`}
    >
      {label}
    </button>
  );
  return (
    <div className="jp-mlops-view-header">
      <div className="jp-mlops-toolbar">
        <h2 className="jp-mlops-title">
          {view.experiment ?? 'All experiments'}
        </h2>
        <span className="jp-mlops-count" data-total={view.total}>
          {view.total.toLocaleString()} runs
        </span>
        <span
          className="jp-mlops-live"
          title="new and changed runs appear without refreshing"
        >
          ● live
        </span>
        <select
          aria-label="which runs"
          className="jp-mlops-lifecycle"
          value={view.lifecycle}
          onChange={e => void view.showLifecycle(e.target.value as Lifecycle)}
        >
          <option value="active">active runs</option>
          <option value="archived">archived runs</option>
          <option value="deleted">deleted runs</option>
        </select>
        <label className="jp-mlops-check">
          group by{' '}
          <select
            aria-label="group by"
            className="jp-mlops-group-by"
            value={view.groupBy ?? ''}
            onChange={e => attempt(view.setGroupBy(e.target.value || null))}
            title="one row per value of a parameter, with each metric's mean ± std over its runs"
          >
            <option value="">none</option>
            {groupChoices(view).map(key => (
              <option key={key} value={`params.${key}`}>
                {key}
              </option>
            ))}
          </select>
        </label>
        {view.groupBy && (
          <span className="jp-mlops-muted jp-mlops-group-count">
            {view.groupCount.toLocaleString()} groups
          </span>
        )}
        <span className="jp-mlops-spacer" />
        {selected.length > 0 &&
          (view.lifecycle === 'active'
            ? [bulk('archive', 'Archive'), bulk('delete', 'Delete')]
            : [bulk('restore', 'Restore')])}
        {selected.length > 0 && (
          <button
            className="jp-mlops-button jp-mlops-tag"
            onClick={() => attempt(view.tagSelected())}
            title="set a tag on the selected runs"
          >
            Tag…
          </button>
        )}
        <ColumnChooser
          columns={view.allColumns()}
          hidden={view.hiddenColumns()}
          onChange={hidden => void view.hideColumns(hidden)}
        />
        <button
          className="jp-mlops-button jp-mlops-compare"
          disabled={selected.length < 2}
          onClick={() => view.compare()}
          title={`compare the selected runs (up to ${MAX_COMPARE})`}
        >
          Compare ({selected.length})
        </button>
        <button
          className="jp-mlops-button jp-mlops-diff"
          disabled={selected.length !== 2}
          onClick={() => view.diff()}
        >
          Notebook diff
        </button>
        {selected.length > 0 && (
          <button
            className="jp-mlops-button jp-mlops-clear"
            onClick={() => view.model.clearSelection()}
          >
            Clear selection
          </button>
        )}
        <button
          className="jp-mlops-button jp-mlops-export"
          title="download the filtered table, with the columns shown, as CSV"
          onClick={() => attempt(view.exportCSV())}
        >
          Export CSV
        </button>
      </div>
      <FilterBox
        value={view.filter}
        keys={view.columnKeys}
        error={view.filterError}
        onApply={f => void view.applyFilter(f)}
      />
      {view.brushed.length > 0 && (
        <div className="jp-mlops-toolbar jp-mlops-brushes">
          brushed:{' '}
          <code className="jp-mlops-brush-filter">
            {brushFilter(view.brushed)}
          </code>
          <button
            className="jp-mlops-button jp-mlops-clear-brush"
            onClick={() => void view.setBrushes([])}
          >
            Clear
          </button>
        </div>
      )}
      {failure && <div className="jp-mlops-error">{failure}</div>}
    </div>
  );
}

/** The parameters the table may be grouped by (the one it is grouped by, even before the keys load). */
function groupChoices(view: ExperimentView): string[] {
  const keys = view.columnKeys.params;
  const current = view.groupBy?.replace(/^params\./, '');
  return current && !keys.includes(current) ? [...keys, current] : keys;
}

function Charts(props: { view: ExperimentView }): JSX.Element {
  const view = props.view;
  const query = view.query();
  const base = view.query(false);
  // Stable objects while the query is the same, so charts do not reload on every render.
  const key = JSON.stringify(query);
  const baseKey = JSON.stringify(base);
  const memoQuery = React.useMemo(() => query, [key]);
  const memoBase = React.useMemo(() => base, [baseKey]);
  const selection = view.selection();
  const memoSelection = React.useMemo(() => selection, [selection.join(',')]);
  if (!view.rowsShown) {
    return (
      <div className="jp-mlops-empty">
        The charts load once the rows are shown…
      </div>
    );
  }
  return (
    <ChartsPanel
      keys={view.columnKeys}
      query={memoQuery}
      baseQuery={memoBase}
      selection={memoSelection}
      onBrush={brushes => void view.setBrushes(brushes)}
    />
  );
}

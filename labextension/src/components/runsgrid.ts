/**
 * The Experiment view's runs table: a Lumino DataGrid (the one JupyterLab's CSV viewer draws
 * millions of cells with, shared with JupyterLab rather than bundled) over a data model that
 * loads rows page by page as they scroll into view. The server filters and sorts; pinned row
 * headers hold the selection box, the run name and its status; column headers are grouped
 * (run | params | metrics | tags). Colours are read from JupyterLab's --jp-* variables.
 *
 * Grouped by a parameter (rungroups.ts), the rows are the groups with their runs beneath the
 * expanded ones.
 *
 * Canvas cells are invisible to screen readers, so the rows in view are mirrored in a visually
 * hidden table (with each cell's position), updated after every paint.
 */
import {
  BasicMouseHandler,
  CellGroup,
  CellRenderer,
  DataGrid,
  DataModel,
  TextRenderer
} from '@lumino/datagrid';
import { ISignal, Signal } from '@lumino/signaling';
import { Panel } from '@lumino/widgets';

import {
  IRunRow,
  IRunsPage,
  ago,
  duration,
  filterKey,
  fmt,
  requestAPI,
  runDuration,
  short
} from '../api';
import {
  GroupedRow,
  GroupedRows,
  groupLabel,
  groupKey,
  meanStd
} from './rungroups';
import { cssColour, cssVar } from './services';

export type Group = 'run' | 'params' | 'metrics' | 'tags';

export interface IColumn {
  /** ``name``, ``status``, ``start_time``, ``duration``, ``user``, ``source``, ``params.C``… */
  id: string;
  group: Group;
  label: string;
  /** The server's sort key, or null when the column does not sort. */
  sort: string | null;
  numeric: boolean;
  text: (run: IRunRow) => string;
}

export interface ITableQuery {
  experiment: string | null;
  filter: string;
  sort: string | null;
  descending: boolean;
}

export const GROUP_TITLES: Record<Group, string> = {
  run: 'run',
  params: 'params',
  metrics: 'metrics',
  tags: 'tags'
};

const SELECT = 0;
const NAME = 1;
const COLUMN_WIDTH = 110;
/** Wide enough for ``0.8900 ± 0.01414``. */
const GROUPED_METRIC_WIDTH = 160;

/** The pinned columns: the selection box, the name (opens the run), the status. */
export const PINNED: IColumn[] = [
  {
    id: 'select',
    group: 'run',
    label: '',
    sort: null,
    numeric: false,
    text: () => ''
  },
  {
    id: 'name',
    group: 'run',
    label: 'name',
    sort: 'name',
    numeric: false,
    text: run => run.name || short(run.run_id)
  },
  {
    id: 'status',
    group: 'run',
    label: 'status',
    sort: 'status',
    numeric: false,
    text: run => run.status
  }
];

/** Attribute columns after the pinned ones, before params / metrics / tags. */
export const ATTRIBUTES: IColumn[] = [
  {
    id: 'start_time',
    group: 'run',
    label: 'started',
    sort: 'start_time',
    numeric: false,
    text: run => ago(run.start_time)
  },
  {
    id: 'duration',
    group: 'run',
    label: 'duration',
    sort: 'duration',
    numeric: true,
    text: run => duration(runDuration(run))
  },
  {
    id: 'user',
    group: 'run',
    label: 'user',
    sort: 'user',
    numeric: false,
    text: run => run.user ?? ''
  },
  {
    id: 'source',
    group: 'run',
    label: 'source',
    sort: 'source',
    numeric: false,
    text: run => (run.source ?? '').split('/').pop() ?? ''
  },
  {
    id: 'id',
    group: 'run',
    label: 'id',
    sort: 'id',
    numeric: false,
    text: run => short(run.run_id)
  }
];

export function keyColumn(
  kind: 'params' | 'metrics' | 'tags',
  key: string
): IColumn {
  return {
    id: `${kind}.${key}`,
    group: kind,
    label: key,
    sort: filterKey(kind, key),
    numeric: kind === 'metrics',
    text: run => {
      const value = run[kind][key];
      return value === undefined || value === null ? '' : fmt(value);
    }
  };
}

/** Rows as the server pages them, fetched on demand; the table's columns; the selected runs. */
export class RunsModel extends DataModel {
  columns: IColumn[] = [];
  total = 0;
  query: ITableQuery = {
    experiment: null,
    filter: '',
    sort: null,
    descending: true
  };
  readonly selection = new Set<string>();
  private pages = new Map<number, IRunRow[]>();
  private pending = new Set<number>();
  private generation = 0;
  /** setQuery calls so far: the answer of an older one is dropped. */
  private queries = 0;
  private groups: CellGroup[] = [];
  /** The rows grouped by a parameter, or null for one row per run. */
  private grouped: GroupedRows | null = null;
  private anchor: number | null = null;
  private readonly _loaded = new Signal<this, void>(this);
  private readonly _selectionChanged = new Signal<this, string[]>(this);

  constructor(private readonly pageSize: number) {
    super();
  }

  /** A page of rows arrived (after the grid has been told to repaint them). */
  get loaded(): ISignal<this, void> {
    return this._loaded;
  }
  get selectionChanged(): ISignal<this, string[]> {
    return this._selectionChanged;
  }

  rowCount(region: DataModel.RowRegion): number {
    if (region !== 'body') {
      return 2;
    }
    return this.grouped ? this.grouped.rows.length : this.total;
  }

  columnCount(region: DataModel.ColumnRegion): number {
    return region === 'body' ? this.columns.length : PINNED.length;
  }

  data(region: DataModel.CellRegion, row: number, column: number): string {
    switch (region) {
      case 'column-header':
        return row === 0
          ? GROUP_TITLES[this.columns[column].group]
          : this.headerLabel(this.columns[column]);
      case 'corner-header':
        return row === 0
          ? column === NAME
            ? 'run'
            : ''
          : this.headerLabel(PINNED[column]);
      case 'row-header': {
        const grouped = this.groupedRow(row);
        if (grouped && grouped.kind !== 'run') {
          return this.groupCell(grouped, PINNED[column].id);
        }
        const run = this.run(row);
        if (!run) {
          return column === NAME ? '…' : '';
        }
        if (column === SELECT) {
          return this.selection.has(run.run_id) ? '☑' : '☐';
        }
        // A group's runs are indented under it.
        return (
          (grouped && column === NAME ? '    ' : '') + PINNED[column].text(run)
        );
      }
      default: {
        const grouped = this.groupedRow(row);
        if (grouped && grouped.kind !== 'run') {
          return this.groupCell(grouped, this.columns[column].id);
        }
        const run = this.run(row);
        return run ? this.columns[column].text(run) : '';
      }
    }
  }

  metadata(
    region: DataModel.CellRegion,
    row: number,
    column: number
  ): DataModel.Metadata {
    const col =
      region === 'body' || region === 'column-header'
        ? this.columns[column]
        : PINNED[column];
    return { numeric: col?.numeric ?? false, id: col?.id ?? '' };
  }

  groupCount(region: DataModel.CellRegion): number {
    return region === 'column-header' ? this.groups.length : 0;
  }

  group(region: DataModel.CellRegion, index: number): CellGroup | null {
    return region === 'column-header' ? (this.groups[index] ?? null) : null;
  }

  headerLabel(column: IColumn): string {
    if (column.sort && column.sort === this.query.sort) {
      return `${column.label} ${this.query.descending ? '▼' : '▲'}`;
    }
    return column.label;
  }

  /** The parameter the rows are grouped by (a column id, ``params.C``), or null. */
  get groupBy(): string | null {
    return this.grouped?.by ?? null;
  }

  /** How many groups the rows fall in (0 when not grouped). */
  get groupTotal(): number {
    return this.grouped?.reply.groups.length ?? 0;
  }

  /** Group the rows by ``by`` (``params.KEY``) or not (null); shown at the next ``setQuery``. */
  setGrouping(by: string | null): void {
    if (by !== this.groupBy) {
      this.grouped = by ? new GroupedRows(by) : null;
    }
  }

  /** What ``row`` is in a grouped table (a group, one of its runs...); null when not grouped. */
  groupedRow(row: number): GroupedRow | null {
    return this.grouped?.rows[row] ?? null;
  }

  /** The text of a group's row (or of the "loading" / "more runs" row under it) in a column. */
  groupCell(row: GroupedRow, column: string): string {
    const by = this.grouped?.by ?? '';
    if (row.kind === 'group') {
      if (column === 'select') {
        return row.expanded ? '▾' : '▸';
      }
      if (column === 'name') {
        return groupLabel(by, row.group);
      }
      if (column === 'status') {
        return `${row.group.count} run${row.group.count === 1 ? '' : 's'}`;
      }
      if (column === by) {
        return row.group.value ?? '';
      }
      return meanStd(row.group.metrics[column]);
    }
    if (column !== 'name') {
      return '';
    }
    return row.kind === 'more'
      ? `    … ${row.hidden.toLocaleString()} more: filter by ${groupLabel(by, row.group)}`
      : '    …';
  }

  /** Expand or collapse the group of ``row`` (its runs load beneath it). */
  toggleGroup(row: number): void {
    const grouped = this.grouped;
    const target = this.groupedRow(row);
    if (!grouped || target?.kind !== 'group') {
      return;
    }
    grouped
      .toggle(target.group, this.query, () => {
        if (grouped === this.grouped) {
          this.emitChanged({ type: 'model-reset' });
          this._loaded.emit();
        }
      })
      .catch(reason => console.warn('jupyter-mlops: group not loaded', reason));
  }

  /** The run of ``row`` if its page is loaded (no request). */
  peek(row: number): IRunRow | null {
    if (this.grouped) {
      const grouped = this.grouped.rows[row];
      return grouped?.kind === 'run' ? grouped.run : null;
    }
    const page = this.pages.get(Math.floor(row / this.pageSize));
    return page ? (page[row % this.pageSize] ?? null) : null;
  }

  /** The run of ``row``, asking for its page when it is not loaded yet. */
  run(row: number): IRunRow | null {
    const found = this.peek(row);
    if (!found && !this.grouped && row < this.total) {
      this.request(Math.floor(row / this.pageSize));
    }
    return found;
  }

  setColumns(columns: IColumn[]): void {
    const metrics = this.metricColumns().join(' ');
    this.columns = columns;
    this.groups = [];
    columns.forEach((column, i) => {
      const last = this.groups[this.groups.length - 1];
      if (last && columns[last.c1].group === column.group) {
        (last as { c2: number }).c2 = i;
      } else {
        this.groups.push({ r1: 0, r2: 0, c1: i, c2: i });
      }
    });
    this.emitChanged({ type: 'model-reset' });
    const shown = this.generation > 0; // a query was shown: its groups lack the new metrics
    if (this.grouped && shown && this.metricColumns().join(' ') !== metrics) {
      void this.setQuery(this.query); // the groups' aggregates of the metrics now shown
    }
  }

  /** The metric columns shown: the groups carry their mean ± std. */
  private metricColumns(): string[] {
    return this.columns.filter(c => c.group === 'metrics').map(c => c.id);
  }

  /** The groups of ``query`` (and the runs of the expanded ones); false when a newer load won. */
  private async loadGroups(
    grouped: GroupedRows,
    query: ITableQuery,
    current: () => boolean
  ): Promise<boolean> {
    const by = groupKey(grouped.by);
    const reply = await GroupedRows.fetch(
      filterKey('params', by),
      query,
      this.metricColumns()
    );
    if (!current() || grouped !== this.grouped) {
      return false;
    }
    await grouped.update(reply, query);
    if (!current() || grouped !== this.grouped) {
      return false;
    }
    this.pages = new Map();
    this.pending.clear();
    this.total = reply.total;
    this.emitChanged({ type: 'model-reset' });
    this._loaded.emit();
    return true;
  }

  /**
   * Show the rows of ``query``. Resolves to null when they are shown, or to the server's
   * message when it refused the query: the rows shown before stay (the view greys them).
   */
  async setQuery(query: ITableQuery): Promise<string | null> {
    // Queries overlap (a sort clicked while a live reload is in flight): only the latest one asked
    // for may change the rows, whichever answer arrives last.
    const ticket = ++this.queries;
    if (this.grouped) {
      try {
        const generation = this.generation + 1;
        const shown = await this.loadGroups(
          this.grouped,
          query,
          () => ticket === this.queries
        );
        if (shown) {
          this.query = query;
          this.generation = generation;
        }
        return null;
      } catch (e: any) {
        return ticket === this.queries ? (e.message ?? String(e)) : null;
      }
    }
    let first: IRunsPage;
    try {
      first = await this.fetch(query, 0);
    } catch (e: any) {
      return ticket === this.queries ? (e.message ?? String(e)) : null;
    }
    if (ticket !== this.queries) {
      return null;
    }
    this.query = query;
    this.generation += 1;
    this.pages = new Map([[0, first.runs]]);
    this.pending.clear();
    this.total = first.total;
    this.emitChanged({ type: 'model-reset' });
    this._loaded.emit();
    return null;
  }

  /** Reload the pages holding rows ``first``..``last`` in place (a live update); others are dropped. */
  async refresh(first: number, last: number): Promise<void> {
    const generation = this.generation;
    if (this.grouped) {
      await this.loadGroups(
        this.grouped,
        this.query,
        () => generation === this.generation
      ).catch(() => false);
      return;
    }
    const wanted = new Set<number>([0]);
    for (
      let p = Math.floor(first / this.pageSize);
      p <= Math.floor(last / this.pageSize);
      p++
    ) {
      wanted.add(p);
    }
    const pages = await Promise.all(
      Array.from(wanted).map(
        async p => [p, await this.fetch(this.query, p)] as const
      )
    ).catch(() => null);
    if (!pages || generation !== this.generation) {
      return;
    }
    const total = pages[0][1].total;
    this.pages = new Map(pages.map(([p, page]) => [p, page.runs]));
    if (total !== this.total) {
      this.total = total;
      this.emitChanged({ type: 'model-reset' });
    } else {
      this.repaintRows(0, this.total);
    }
    this._loaded.emit();
  }

  toggle(row: number, extend: boolean): void {
    const run = this.peek(row);
    if (!run) {
      return;
    }
    const on = !this.selection.has(run.run_id);
    const [from, to] =
      extend && this.anchor !== null
        ? [Math.min(this.anchor, row), Math.max(this.anchor, row)]
        : [row, row];
    for (let r = from; r <= to; r++) {
      const id = this.peek(r)?.run_id;
      if (id) {
        if (on) {
          this.selection.add(id);
        } else {
          this.selection.delete(id);
        }
      }
    }
    this.anchor = row;
    this.repaintRows(from, to + 1);
    this._selectionChanged.emit(Array.from(this.selection));
  }

  clearSelection(): void {
    this.selection.clear();
    this.anchor = null;
    this.repaintRows(0, this.rowCount('body'));
    this._selectionChanged.emit([]);
  }

  private repaintRows(from: number, to: number): void {
    const span = Math.max(0, Math.min(to, this.rowCount('body')) - from);
    if (span === 0) {
      return;
    }
    this.emitChanged({
      type: 'cells-changed',
      region: 'row-header',
      row: from,
      column: 0,
      rowSpan: span,
      columnSpan: PINNED.length
    });
    if (this.columns.length > 0) {
      this.emitChanged({
        type: 'cells-changed',
        region: 'body',
        row: from,
        column: 0,
        rowSpan: span,
        columnSpan: this.columns.length
      });
    }
  }

  private fetch(query: ITableQuery, page: number): Promise<IRunsPage> {
    return requestAPI<IRunsPage>(
      'runs',
      {},
      {
        experiment: query.experiment ?? undefined,
        filter: query.filter || undefined,
        sort: query.sort ?? undefined,
        order: query.sort ? (query.descending ? 'desc' : 'asc') : undefined,
        page,
        page_size: this.pageSize
      }
    );
  }

  private request(page: number): void {
    if (this.pending.has(page)) {
      return;
    }
    this.pending.add(page);
    const generation = this.generation;
    this.fetch(this.query, page)
      .then(data => {
        if (generation !== this.generation) {
          return;
        }
        this.pages.set(page, data.runs);
        if (data.total !== this.total) {
          this.total = data.total;
          this.emitChanged({ type: 'model-reset' });
        } else {
          this.repaintRows(page * this.pageSize, (page + 1) * this.pageSize);
        }
        this._loaded.emit();
      })
      .catch(reason => console.warn('jupyter-mlops: rows not loaded', reason))
      .finally(() => this.pending.delete(page));
  }
}

/** What the table tells its view. */
export interface ITableEvents {
  open(runId: string): void;
  sort(column: IColumn): void;
}

class RunsMouseHandler extends BasicMouseHandler {
  constructor(private readonly table: RunsTable) {
    super();
  }

  onMouseDown(grid: DataGrid, event: MouseEvent): void {
    super.onMouseDown(grid, event); // column resizing
    if (this.pressData || event.button !== 0) {
      return;
    }
    const hit = grid.hitTest(event.clientX, event.clientY);
    const model = this.table.model;
    if (
      (hit.region === 'column-header' || hit.region === 'corner-header') &&
      hit.row === 1
    ) {
      this.table.sortByHeader(hit.region, hit.column);
    } else if (
      (hit.region === 'row-header' || hit.region === 'body') &&
      model.groupedRow(hit.row)?.kind === 'group'
    ) {
      model.toggleGroup(hit.row); // a click anywhere on a group's row opens or closes it
    } else if (hit.region === 'row-header' && hit.column === NAME) {
      this.table.openRow(hit.row);
    } else if (hit.region === 'row-header' || hit.region === 'body') {
      this.table.model.toggle(hit.row, event.shiftKey);
    }
  }

  onMouseDoubleClick(grid: DataGrid, event: MouseEvent): void {
    const hit = grid.hitTest(event.clientX, event.clientY);
    if (hit.region === 'body') {
      this.table.openRow(hit.row);
    }
  }

  onMouseHover(grid: DataGrid, event: MouseEvent): void {
    super.onMouseHover(grid, event);
    const hit = grid.hitTest(event.clientX, event.clientY);
    const clickable =
      (hit.region === 'row-header' && hit.row >= 0) ||
      (hit.region === 'body' &&
        this.table.model.groupedRow(hit.row)?.kind === 'group') ||
      ((hit.region === 'column-header' || hit.region === 'corner-header') &&
        hit.row === 1 &&
        hit.x > 5 &&
        hit.width - hit.x > 6);
    if (clickable) {
      grid.viewport.node.style.cursor = 'pointer';
    }
  }
}

class RunsDataGrid extends DataGrid {
  /** Called after each paint (the mirror follows what is drawn). */
  painted: () => void = () => undefined;

  constructor(options: DataGrid.IOptions) {
    super(options);
    batchCellBlits(this);
  }

  protected paintContent(rx: number, ry: number, rw: number, rh: number): void {
    super.paintContent(rx, ry, rw, rh);
    this.painted();
  }
}

/**
 * One copy to the screen per painted region instead of one per cell. Lumino's grid paints each
 * cell into an off-screen buffer and copies that cell to the canvas (``drawImage``) at once; without
 * a GPU (headless Chromium, remote desktops) each copy costs about 0.5 ms, and the ~800 cells of a
 * first paint took 0.4 s of the 0.7 s from opening the Experiment view to its rows (profiled in
 * bench_lab.py's Chromium). The same pixels reach the canvas: the cells of a region tile it, and a
 * merged cell (the grouped headers) is painted over its area afterwards, background first.
 * Private methods of @lumino/datagrid 2: left alone when they are not there.
 */
function batchCellBlits(grid: DataGrid): void {
  const g = grid as any;
  if (
    typeof g._drawCells !== 'function' ||
    typeof g._blitContent !== 'function'
  ) {
    return;
  }
  const drawCells = g._drawCells;
  const blit = g._blitContent;
  let pending: number[] | null = null; // x1, y1, x2, y2 of the cells painted so far
  g._blitContent = function (
    source: HTMLCanvasElement,
    x: number,
    y: number,
    w: number,
    h: number,
    dx: number,
    dy: number
  ) {
    if (pending && source === g._buffer && x === dx && y === dy) {
      pending = [
        Math.min(pending[0], x),
        Math.min(pending[1], y),
        Math.max(pending[2], x + w),
        Math.max(pending[3], y + h)
      ];
      return;
    }
    blit.call(this, source, x, y, w, h, dx, dy);
  };
  g._drawCells = function (rgn: unknown) {
    pending = [Infinity, Infinity, -Infinity, -Infinity];
    try {
      drawCells.call(this, rgn);
    } finally {
      const [x1, y1, x2, y2] = pending;
      pending = null;
      if (x2 > x1 && y2 > y1) {
        blit.call(this, g._buffer, x1, y1, x2 - x1, y2 - y1, x1, y1);
      }
    }
  };
}

/** The grid with its hidden mirror of the rows in view. */
export class RunsTable extends Panel {
  readonly grid: RunsDataGrid;
  private readonly mirror: HTMLTableElement;
  private mirrorFrame = 0;
  private rowsPainted: (() => void)[] = [];
  private hasPaintedRows = false;
  /** The metric columns widened for a grouping (their indexes), or ''. */
  private metricsWidened = '';

  constructor(
    readonly model: RunsModel,
    private readonly events: ITableEvents
  ) {
    super();
    this.addClass('jp-mlops-runs-table');
    this.grid = new RunsDataGrid({
      defaultSizes: {
        rowHeight: 24,
        columnWidth: COLUMN_WIDTH,
        rowHeaderWidth: 110,
        columnHeaderHeight: 24
      },
      headerVisibility: 'all'
    });
    this.grid.addClass('jp-mlops-runs-grid');
    this.grid.dataModel = model;
    this.grid.mouseHandler = new RunsMouseHandler(this);
    this.grid.copyConfig = { ...DataGrid.defaultCopyConfig, headers: 'all' };
    this.grid.painted = () => this.scheduleMirror();
    this.addWidget(this.grid);
    this.mirror = document.createElement('table');
    this.mirror.className = 'jp-mlops-grid-mirror';
    this.mirror.setAttribute('aria-label', 'runs in view');
    this.node.appendChild(this.mirror);
    this.applyTheme();
    this.sizePinned();
    model.changed.connect((_, args) => {
      if (args.type === 'model-reset') {
        this.sizePinned();
        this.sizeMetricColumns();
      }
      this.scheduleMirror();
    });
  }

  /** Re-read the theme's colours and fonts (called when JupyterLab's theme changes). */
  applyTheme(): void {
    const background = cssVar('--jp-layout-color0', '#fff');
    const header = cssVar('--jp-layout-color2', '#eee');
    const border = cssVar('--jp-border-color2', '#ddd');
    const text = cssVar('--jp-ui-font-color1', '#000');
    const muted = cssVar('--jp-ui-font-color2', '#666');
    const selected = cssColour('--jp-mlops-tint-brand', '#bbdefb');
    const odd = cssVar('--jp-layout-color1', '#fafafa');
    // A canvas font needs an absolute size: the theme's sizes may be relative (em).
    const size = `${Math.round(parseFloat(getComputedStyle(this.node).fontSize) || 13)}px`;
    const family = cssVar('--jp-ui-font-family', 'sans-serif');
    const code = cssVar('--jp-code-font-family', 'monospace');
    const status: Record<string, string> = {
      FINISHED: cssVar('--jp-success-color1', 'green'),
      FAILED: cssVar('--jp-error-color1', 'red'),
      CRASHED: cssVar('--jp-error-color1', 'red'),
      KILLED: cssVar('--jp-warn-color1', 'orange'),
      RUNNING: cssVar('--jp-brand-color1', 'blue')
    };
    this.grid.style = {
      ...DataGrid.defaultStyle,
      voidColor: background,
      backgroundColor: background,
      rowBackgroundColor: i => (i % 2 ? odd : background),
      gridLineColor: border,
      headerBackgroundColor: header,
      headerGridLineColor: border,
      selectionFillColor: 'transparent',
      scrollShadow: undefined
    };
    const model = this.model;
    const isSelected = (row: number) => {
      const run = model.peek(row);
      return !!run && model.selection.has(run.run_id);
    };
    const isGroup = (row: number) => model.groupedRow(row)?.kind === 'group';
    const body = new TextRenderer({
      font: ({ metadata }) => `${size} ${metadata.numeric ? code : family}`,
      textColor: text,
      backgroundColor: ({ row }) =>
        isSelected(row) ? selected : isGroup(row) ? header : '',
      horizontalAlignment: ({ metadata }) =>
        metadata.numeric ? 'right' : 'left',
      elideDirection: 'right'
    });
    const rowHeader = new TextRenderer({
      font: ({ column, row }) =>
        column === NAME || isGroup(row)
          ? `bold ${size} ${family}`
          : `${size} ${family}`,
      textColor: ({ column, value, row }: CellRenderer.CellConfig) =>
        column === 2
          ? (status[String(value)] ?? muted)
          : model.groupedRow(row)?.kind === 'group'
            ? text
            : column === NAME
              ? cssVar('--jp-content-link-color', text)
              : text,
      backgroundColor: ({ row }) => (isSelected(row) ? selected : header),
      horizontalAlignment: ({ column }) =>
        column === SELECT ? 'center' : 'left'
    });
    const headerRenderer = new TextRenderer({
      font: ({ row }) =>
        row === 0 ? `${size} ${family}` : `bold ${size} ${family}`,
      textColor: ({ row }) => (row === 0 ? muted : text),
      backgroundColor: header,
      horizontalAlignment: ({ row }) => (row === 0 ? 'center' : 'left')
    });
    this.grid.cellRenderers.update({
      body,
      'row-header': rowHeader,
      'column-header': headerRenderer,
      'corner-header': headerRenderer
    });
  }

  sortByHeader(
    region: 'column-header' | 'corner-header',
    column: number
  ): void {
    const col =
      region === 'column-header' ? this.model.columns[column] : PINNED[column];
    if (col?.sort) {
      this.events.sort(col);
    }
  }

  openRow(row: number): void {
    const run = this.model.peek(row);
    if (run) {
      this.events.open(run.run_id);
    }
  }

  /** The rows in view, ``[first, last]`` (both -1 before the first paint). */
  visibleRows(): [number, number] {
    const vp = this.grid.currentViewport;
    return vp ? [vp.firstRow, vp.lastRow] : [-1, -1];
  }

  /** Grouped, the metric columns widen to fit a mean ± std (and narrow again after). */
  private sizeMetricColumns(): void {
    const grouped = this.model.groupBy !== null;
    const metrics = this.model.columns
      .map((column, i) => (column.group === 'metrics' ? i : -1))
      .filter(i => i >= 0);
    const sized = grouped ? metrics.join(',') : '';
    if (sized === this.metricsWidened) {
      return; // not grouped and never was, or widened already: the user's widths stay
    }
    const width = grouped ? GROUPED_METRIC_WIDTH : COLUMN_WIDTH;
    metrics.forEach(i => this.grid.resizeColumn('body', i, width));
    this.metricsWidened = sized;
  }

  private sizePinned(): void {
    [28, 200, 90].forEach((width, i) =>
      this.grid.resizeColumn('row-header', i, width)
    );
  }

  private scheduleMirror(): void {
    if (!this.mirrorFrame) {
      this.mirrorFrame = requestAnimationFrame(() => {
        this.mirrorFrame = 0;
        this.updateMirror();
      });
    }
  }

  /** The hidden copy of the header and the rows in view, with each cell's place on the canvas. */
  private updateMirror(): void {
    const grid = this.grid;
    const model = this.model;
    const vp = grid.currentViewport;
    const head = document.createElement('thead');
    const headRow = head.insertRow();
    const headerY =
      grid.rowOffset('column-header', 1) + grid.rowSize('column-header', 1) / 2;
    const headerCell = (column: IColumn, x: number, width: number) => {
      const th = document.createElement('th');
      th.textContent = column.id === 'select' ? 'selected' : column.label;
      th.dataset.column = column.id;
      th.dataset.group = column.group;
      th.dataset.x = String(Math.round(x + width / 2));
      th.dataset.y = String(Math.round(headerY));
      if (column.sort && column.sort === model.query.sort) {
        th.setAttribute(
          'aria-sort',
          model.query.descending ? 'descending' : 'ascending'
        );
      }
      headRow.appendChild(th);
    };
    PINNED.forEach((column, i) =>
      headerCell(
        column,
        grid.columnOffset('row-header', i),
        grid.columnSize('row-header', i)
      )
    );
    const columns: number[] = [];
    if (vp) {
      for (let c = vp.firstColumn; c <= vp.lastColumn && c >= 0; c++) {
        columns.push(c);
        headerCell(
          model.columns[c],
          grid.headerWidth + grid.columnOffset('body', c) - grid.scrollX,
          grid.columnSize('body', c)
        );
      }
    }
    const body = document.createElement('tbody');
    if (vp) {
      for (let r = vp.firstRow; r <= vp.lastRow && r >= 0; r++) {
        const tr = body.insertRow();
        const run = model.peek(r);
        tr.dataset.row = String(r);
        tr.dataset.y = String(
          Math.round(
            grid.headerHeight +
              grid.rowOffset('body', r) -
              grid.scrollY +
              grid.rowSize('body', r) / 2
          )
        );
        const grouped = model.groupedRow(r);
        if (grouped && grouped.kind !== 'run') {
          this.mirrorGroupRow(tr, grouped, columns);
          continue;
        }
        if (!run) {
          tr.dataset.loading = 'true';
          continue;
        }
        tr.dataset.run = run.run_id;
        if (grouped) {
          tr.dataset.inGroup = grouped.group.filter;
        }
        tr.dataset.selected = String(model.selection.has(run.run_id));
        PINNED.forEach((column, i) => {
          tr.insertCell().textContent =
            i === SELECT
              ? model.selection.has(run.run_id)
                ? 'selected'
                : ''
              : column.text(run);
        });
        columns.forEach(c => {
          const td = tr.insertCell();
          td.textContent = model.columns[c].text(run);
          td.dataset.column = model.columns[c].id;
        });
      }
    }
    this.mirror.replaceChildren(head, body);
    this.mirror.dataset.total = String(model.total);
    const rows = body.querySelectorAll('tr[data-run], tr[data-group]').length;
    this.mirror.dataset.rows = String(
      body.querySelectorAll('tr[data-run]').length
    );
    this.hasPaintedRows = rows > 0;
    if (rows > 0) {
      this.rowsPainted.splice(0).forEach(resolve => resolve());
    }
  }

  /** Resolves once the grid has painted rows (at once when it has). */
  whenRowsPainted(): Promise<void> {
    if (this.hasPaintedRows) {
      return Promise.resolve();
    }
    return new Promise(resolve => this.rowsPainted.push(resolve));
  }

  /** A group's row in the mirror: its value, count and expansion, and each cell's mean and std. */
  private mirrorGroupRow(
    tr: HTMLTableRowElement,
    row: GroupedRow,
    columns: number[]
  ): void {
    const model = this.model;
    tr.dataset.groupRow = row.kind;
    tr.dataset.group = row.group.filter;
    if (row.kind === 'group') {
      tr.dataset.value = row.group.value ?? '';
      tr.dataset.none = String(row.group.value === null);
      tr.dataset.count = String(row.group.count);
      tr.dataset.expanded = String(row.expanded);
      tr.setAttribute('aria-expanded', String(row.expanded));
    }
    PINNED.forEach(column => {
      tr.insertCell().textContent = model.groupCell(row, column.id).trim();
    });
    columns.forEach(c => {
      const id = model.columns[c].id;
      const td = tr.insertCell();
      td.textContent = model.groupCell(row, id);
      td.dataset.column = id;
      const stats = row.kind === 'group' ? row.group.metrics[id] : undefined;
      if (stats) {
        td.dataset.n = String(stats.count);
        td.dataset.mean = String(stats.mean ?? '');
        td.dataset.std = String(stats.std ?? '');
      }
    });
  }

  dispose(): void {
    cancelAnimationFrame(this.mirrorFrame);
    super.dispose();
  }
}

/**
 * Run grouping in the Experiment view's table: one row per value of a parameter with its run
 * count and each shown metric's mean ± std, computed by the server over every run the filter
 * keeps (GET table/groups), not over the rows loaded. An expanded group lists its runs beneath
 * it, read with the table's own endpoint and order, the group's filter clause ANDed to the
 * table's (so "C = 8" lists the runs the server counted in that group).
 */
import { IRunRow, IRunsPage, fmt, requestAPI } from '../api';
import type { ITableQuery } from './runsgrid';

export interface IGroupStats {
  /** Runs of the group that logged the metric (a finite value). */
  count: number;
  mean: number | null;
  /** Sample standard deviation (n - 1); null for a single run. */
  std: number | null;
}

export interface IRunGroup {
  /** The parameter's value as its runs logged it; null for the runs without it. */
  value: string | null;
  kind: 'number' | 'text' | 'none';
  count: number;
  /** The clause of the filter language that keeps this group's runs. */
  filter: string;
  /** By column id (``metrics.auc``). */
  metrics: Record<string, IGroupStats>;
}

export interface IGroupsReply {
  by: string;
  total: number;
  groups: IRunGroup[];
  truncated: boolean;
}

/** Runs listed under an expanded group, at most; a last row says how many more it holds. */
export const MAX_GROUP_RUNS = 500;

export type GroupedRow =
  | { kind: 'group'; group: IRunGroup; expanded: boolean }
  | { kind: 'run'; run: IRunRow; group: IRunGroup }
  | { kind: 'more'; group: IRunGroup; hidden: number }
  | { kind: 'loading'; group: IRunGroup };

/** The parameter's key in a ``params.KEY`` column id. */
export function groupKey(by: string): string {
  return by.replace(/^params\./, '');
}

/** ``C = 8``, ``C = ""`` (an empty value) or ``(none)`` (runs without the parameter). */
export function groupLabel(by: string, group: IRunGroup): string {
  if (group.value === null) {
    return '(none)';
  }
  return `${groupKey(by)} = ${group.value === '' ? '""' : group.value}`;
}

/** ``0.8200 ± 0.03606``; the mean alone for one run; nothing when no run logged it. */
export function meanStd(stats: IGroupStats | undefined): string {
  if (!stats || stats.count === 0 || stats.mean === null) {
    return '';
  }
  return stats.std === null
    ? fmt(stats.mean)
    : `${fmt(stats.mean)} ± ${fmt(stats.std)}`;
}

function tableArgs(query: ITableQuery, filter: string) {
  return {
    experiment: query.experiment ?? undefined,
    filter: filter || undefined,
    sort: query.sort ?? undefined,
    order: query.sort ? (query.descending ? 'desc' : 'asc') : undefined
  };
}

/** The table's filter with one group's clause ANDed to it. */
function withGroup(query: ITableQuery, group: IRunGroup): string {
  return query.filter ? `(${query.filter}) AND ${group.filter}` : group.filter;
}

/**
 * The rows of a grouped table: the groups the server sent, each followed by its runs when
 * expanded. Expansion is kept by the group's clause, so a live reload keeps it.
 */
export class GroupedRows {
  reply: IGroupsReply = { by: '', total: 0, groups: [], truncated: false };
  rows: GroupedRow[] = [];
  /** Expanded groups by clause: their runs and how many the group holds (null while loading). */
  private readonly expanded = new Map<
    string,
    { runs: IRunRow[]; total: number } | null
  >();

  /** Bumped by each update: a group's runs read before it are not shown. */
  private version = 0;

  constructor(readonly by: string) {}

  /** Ask for the groups of ``query`` with the mean ± std of ``metrics`` (column ids). */
  static fetch(
    by: string,
    query: ITableQuery,
    metrics: string[]
  ): Promise<IGroupsReply> {
    return requestAPI<IGroupsReply>(
      'table/groups',
      {},
      {
        by,
        columns: JSON.stringify(metrics),
        ...tableArgs(query, query.filter)
      }
    );
  }

  /** Take a new answer; the runs of the groups still expanded are read again. */
  async update(reply: IGroupsReply, query: ITableQuery): Promise<void> {
    this.version += 1;
    const present = new Set(reply.groups.map(g => g.filter));
    for (const clause of Array.from(this.expanded.keys())) {
      if (!present.has(clause)) {
        this.expanded.delete(clause);
      }
    }
    const open = reply.groups.filter(g => this.expanded.has(g.filter));
    const pages = await Promise.all(
      open.map(g => GroupedRows.runsOf(query, g).catch(() => null))
    );
    open.forEach((g, i) => {
      const page = pages[i];
      if (page) {
        this.expanded.set(g.filter, { runs: page.runs, total: page.total });
      } else {
        this.expanded.delete(g.filter);
      }
    });
    this.reply = reply;
    this.layout();
  }

  isExpanded(group: IRunGroup): boolean {
    return this.expanded.has(group.filter);
  }

  /** Collapse the group, or expand it and read its runs; resolves when the rows changed. */
  async toggle(
    group: IRunGroup,
    query: ITableQuery,
    changed: () => void
  ): Promise<void> {
    if (this.expanded.has(group.filter)) {
      this.expanded.delete(group.filter);
      this.layout();
      changed();
      return;
    }
    this.expanded.set(group.filter, null);
    this.layout();
    changed();
    const version = this.version;
    let page: IRunsPage;
    try {
      page = await GroupedRows.runsOf(query, group);
    } catch (reason) {
      this.expanded.delete(group.filter);
      this.layout();
      changed();
      throw reason;
    }
    if (version !== this.version || !this.expanded.has(group.filter)) {
      return; // collapsed again, or the groups reloaded (and read it) meanwhile
    }
    this.expanded.set(group.filter, { runs: page.runs, total: page.total });
    this.layout();
    changed();
  }

  private static runsOf(
    query: ITableQuery,
    group: IRunGroup
  ): Promise<IRunsPage> {
    return requestAPI<IRunsPage>(
      'runs',
      {},
      {
        ...tableArgs(query, withGroup(query, group)),
        page: 0,
        page_size: MAX_GROUP_RUNS
      }
    );
  }

  private layout(): void {
    const rows: GroupedRow[] = [];
    for (const group of this.reply.groups) {
      const open = this.expanded.get(group.filter);
      rows.push({ kind: 'group', group, expanded: open !== undefined });
      if (open === null) {
        rows.push({ kind: 'loading', group });
      } else if (open) {
        open.runs.forEach(run => rows.push({ kind: 'run', run, group }));
        if (open.total > open.runs.length) {
          rows.push({
            kind: 'more',
            group,
            hidden: open.total - open.runs.length
          });
        }
      }
    }
    this.rows = rows;
  }
}

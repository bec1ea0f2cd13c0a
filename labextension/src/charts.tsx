/**
 * Small hand-drawn SVG charts: overlaid metric lines, parallel coordinates, a pipeline DAG.
 */
import * as React from 'react';

export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf'
];

export const STATUS_COLOURS: Record<string, string> = {
  RUNNING: '#fff59d',
  FINISHED: '#c8e6c9',
  FAILED: '#ffcdd2',
  CACHED: '#bbdefb',
  SKIPPED: '#e0e0e0',
  KILLED: '#ffccbc',
  CRASHED: '#ffccbc',
  PENDING: '#eeeeee'
};

function extent(values: number[]): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!isFinite(lo) || !isFinite(hi)) {
    return [0, 1];
  }
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  return [lo, hi];
}

export interface ISeries {
  label: string;
  points: [number, number | null][];
}

/** One metric of several runs, one coloured line each. */
export function LineChart(props: {
  title: string;
  series: ISeries[];
  width?: number;
  height?: number;
}): JSX.Element {
  const width = props.width ?? 360;
  const height = props.height ?? 180;
  const pad = { left: 48, right: 10, top: 20, bottom: 24 };
  const all = props.series.flatMap(s =>
    s.points.filter(p => p[1] !== null)
  ) as [number, number][];
  const [x0, x1] = extent(all.map(p => p[0]));
  const [y0, y1] = extent(all.map(p => p[1]));
  const sx = (x: number) =>
    pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y: number) =>
    height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  return (
    <svg
      className="jp-mlops-chart"
      width={width}
      height={height}
      data-metric={props.title}
    >
      <text x={pad.left} y={14} className="jp-mlops-chart-title">
        {props.title}
      </text>
      <line x1={pad.left} y1={height - pad.bottom} x2={width - pad.right} y2={height - pad.bottom} stroke="#999" />
      <line x1={pad.left} y1={pad.top} x2={pad.left} y2={height - pad.bottom} stroke="#999" />
      <text x={4} y={pad.top + 8} className="jp-mlops-axis">
        {y1.toPrecision(3)}
      </text>
      <text x={4} y={height - pad.bottom} className="jp-mlops-axis">
        {y0.toPrecision(3)}
      </text>
      <text x={pad.left} y={height - 6} className="jp-mlops-axis">
        {x0}
      </text>
      <text x={width - pad.right - 30} y={height - 6} className="jp-mlops-axis">
        {x1}
      </text>
      {props.series.map((s, i) => {
        const pts = s.points.filter(p => p[1] !== null) as [number, number][];
        const colour = PALETTE[i % PALETTE.length];
        if (pts.length === 1) {
          return <circle key={s.label} cx={sx(pts[0][0])} cy={sy(pts[0][1])} r={3} fill={colour} />;
        }
        return (
          <polyline
            key={s.label}
            fill="none"
            stroke={colour}
            strokeWidth={1.5}
            points={pts.map(p => `${sx(p[0])},${sy(p[1])}`).join(' ')}
          >
            <title>{s.label}</title>
          </polyline>
        );
      })}
    </svg>
  );
}

/** Parallel coordinates: one axis per parameter plus the chosen metric; one line per run. */
export function ParallelCoordinates(props: {
  axes: string[];
  rows: { label: string; values: (number | string | null)[] }[];
  width?: number;
  height?: number;
}): JSX.Element {
  const width = props.width ?? Math.max(320, props.axes.length * 110);
  const height = props.height ?? 220;
  const pad = { left: 40, right: 40, top: 30, bottom: 20 };
  const step = props.axes.length > 1 ? (width - pad.left - pad.right) / (props.axes.length - 1) : 0;
  // Each axis scales its own values; text values get evenly spaced positions in sorted order.
  const scales = props.axes.map((_, a) => {
    const values = props.rows.map(r => r.values[a]).filter(v => v !== null && v !== undefined);
    const numeric = values.every(v => typeof v === 'number' || !isNaN(Number(v)));
    if (numeric) {
      const [lo, hi] = extent(values.map(Number));
      return { fn: (v: number | string) => (Number(v) - lo) / (hi - lo), lo: String(lo), hi: String(hi) };
    }
    const levels = Array.from(new Set(values.map(String))).sort();
    return {
      fn: (v: number | string) => (levels.length > 1 ? levels.indexOf(String(v)) / (levels.length - 1) : 0.5),
      lo: levels[0] ?? '',
      hi: levels[levels.length - 1] ?? ''
    };
  });
  const y = (t: number) => height - pad.bottom - t * (height - pad.top - pad.bottom);
  return (
    <svg className="jp-mlops-parallel" width={width} height={height}>
      {props.axes.map((axis, a) => (
        <g key={axis}>
          <line x1={pad.left + a * step} y1={pad.top} x2={pad.left + a * step} y2={height - pad.bottom} stroke="#888" />
          <text x={pad.left + a * step} y={14} textAnchor="middle" className="jp-mlops-axis-title">
            {axis}
          </text>
          <text x={pad.left + a * step + 3} y={pad.top + 8} className="jp-mlops-axis">
            {scales[a].hi.slice(0, 8)}
          </text>
          <text x={pad.left + a * step + 3} y={height - pad.bottom} className="jp-mlops-axis">
            {scales[a].lo.slice(0, 8)}
          </text>
        </g>
      ))}
      {props.rows.map((row, i) => {
        const pts = row.values
          .map((v, a) => (v === null || v === undefined ? null : `${pad.left + a * step},${y(scales[a].fn(v))}`))
          .filter(p => p !== null);
        return (
          <polyline key={row.label} fill="none" stroke={PALETTE[i % PALETTE.length]} strokeWidth={2} points={pts.join(' ')}>
            <title>{row.label}</title>
          </polyline>
        );
      })}
    </svg>
  );
}

/** A DAG left to right: each node one column right of its deepest upstream node. */
export function DagView(props: {
  dag: Record<string, string[]>;
  status: Record<string, string>;
  /** Nodes to mark with a star: the best point of a sweep. */
  best?: string[];
  selected?: string | null;
  onSelect?: (node: string) => void;
}): JSX.Element {
  const level: Record<string, number> = {};
  const depth = (node: string, seen: Set<string>): number => {
    if (level[node] !== undefined) {
      return level[node];
    }
    if (seen.has(node)) {
      return 0;
    }
    seen.add(node);
    const ups = props.dag[node] ?? [];
    level[node] = ups.length ? 1 + Math.max(...ups.map(u => depth(u, seen))) : 0;
    return level[node];
  };
  const nodes = Object.keys(props.dag);
  nodes.forEach(n => depth(n, new Set()));
  const columns: Record<number, string[]> = {};
  nodes.forEach(n => (columns[level[n]] = [...(columns[level[n]] ?? []), n]));
  const boxW = 110;
  const boxH = 30;
  const gapX = 40;
  const gapY = 14;
  const pos: Record<string, { x: number; y: number }> = {};
  Object.entries(columns).forEach(([col, names]) =>
    names.forEach((n, i) => (pos[n] = { x: 10 + Number(col) * (boxW + gapX), y: 10 + i * (boxH + gapY) }))
  );
  const width = 20 + (Object.keys(columns).length || 1) * (boxW + gapX);
  const height = 20 + Math.max(1, ...Object.values(columns).map(c => c.length)) * (boxH + gapY);
  return (
    <svg
      className="jp-mlops-dag"
      viewBox={`0 0 ${width} ${height}`}
      width="100%"
      style={{ maxWidth: width }}
    >
      <defs>
        <marker id="jp-mlops-arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">
          <path d="M0,0 L8,4 L0,8 z" fill="#777" />
        </marker>
      </defs>
      {nodes.flatMap(n =>
        (props.dag[n] ?? [])
          .filter(u => pos[u])
          .map(u => (
            <line
              key={`${u}->${n}`}
              x1={pos[u].x + boxW}
              y1={pos[u].y + boxH / 2}
              x2={pos[n].x - 2}
              y2={pos[n].y + boxH / 2}
              stroke="#777"
              markerEnd="url(#jp-mlops-arrow)"
            />
          ))
      )}
      {nodes.map(n => {
        const status = props.status[n] ?? 'PENDING';
        return (
          <g
            key={n}
            className="jp-mlops-dag-node"
            data-node={n}
            data-status={status}
            onClick={() => props.onSelect?.(n)}
            style={{ cursor: 'pointer' }}
          >
            <rect
              x={pos[n].x}
              y={pos[n].y}
              width={boxW}
              height={boxH}
              rx={6}
              fill={STATUS_COLOURS[status] ?? '#eee'}
              stroke={props.selected === n ? '#333' : '#999'}
              strokeWidth={props.selected === n ? 2 : 1}
            />
            <text x={pos[n].x + 6} y={pos[n].y + 13} className="jp-mlops-dag-name">
              {n.length > 16 ? n.slice(0, 15) + '…' : n}
            </text>
            <text x={pos[n].x + 6} y={pos[n].y + 25} className="jp-mlops-dag-status">
              {status}
              {props.best?.includes(n) ? ' ★ best' : ''}
            </text>
            <title>{`${n}: ${status}`}</title>
          </g>
        );
      })}
    </svg>
  );
}

export function StatusBadge(props: { status: string }): JSX.Element {
  return (
    <span
      className={`jp-mlops-badge jp-mlops-status-${props.status.toLowerCase()}`}
      style={{ background: STATUS_COLOURS[props.status] ?? '#eee' }}
    >
      {props.status}
    </span>
  );
}

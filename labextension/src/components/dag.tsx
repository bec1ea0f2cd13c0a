/**
 * A pipeline's DAG laid out by dagre (layered, left to right, edges routed between the boxes,
 * never under them) and drawn as SVG: each step coloured by status (theme colours), a sweep
 * point labelled with its parameter values, a cached step and the sweep's best point marked.
 * dagre loads in a chunk of its own the first time a DAG is drawn.
 */
import * as React from 'react';

import { IStep } from '../api';

const NODE_WIDTH = 180;
const NODE_HEIGHT = 46;
const SWEEP_HEIGHT = 62;
const MARGIN = 8;

interface ILayout {
  width: number;
  height: number;
  nodes: {
    name: string;
    x: number;
    y: number;
    width: number;
    height: number;
  }[];
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
}

type Dagre = typeof import('@dagrejs/dagre');
let loading: Promise<Dagre> | null = null;

function loadDagre(): Promise<Dagre> {
  loading =
    loading ?? import(/* webpackChunkName: "mlops-dagre" */ '@dagrejs/dagre');
  return loading;
}

/** ``C=0.1, depth=3``: a sweep point's values, short. */
export function sweepLabel(
  point: Record<string, unknown> | null | undefined
): string {
  if (!point) {
    return '';
  }
  return Object.entries(point)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

function clip(text: string, chars: number): string {
  return text.length > chars ? text.slice(0, chars - 1) + '…' : text;
}

async function layout(
  dag: Record<string, string[]>,
  steps: Record<string, IStep>
): Promise<ILayout> {
  const dagre = await loadDagre();
  const g = new dagre.graphlib.Graph();
  g.setGraph({
    rankdir: 'LR',
    nodesep: 16,
    ranksep: 56,
    marginx: MARGIN,
    marginy: MARGIN
  });
  g.setDefaultEdgeLabel(() => ({}));
  const names = Object.keys(dag);
  names.forEach(name =>
    g.setNode(name, {
      width: NODE_WIDTH,
      height: steps[name]?.sweep_point ? SWEEP_HEIGHT : NODE_HEIGHT
    })
  );
  names.forEach(name =>
    (dag[name] ?? []).filter(up => up in dag).forEach(up => g.setEdge(up, name))
  );
  dagre.layout(g);
  const nodes = names.map(name => {
    const n = g.node(name);
    return {
      name,
      x: n.x - n.width / 2,
      y: n.y - n.height / 2,
      width: n.width,
      height: n.height
    };
  });
  const edges = g
    .edges()
    .map(e => ({ from: e.v, to: e.w, points: g.edge(e).points ?? [] }));
  // dagre's graph size leaves out edges routed around a rank (a step that skips one, such as
  // prepare -> evaluate past a sweep): the drawing is sized to everything drawn.
  const graph = g.graph();
  let width = graph.width ?? 0;
  let height = graph.height ?? 0;
  for (const edge of edges) {
    for (const p of edge.points) {
      width = Math.max(width, p.x + MARGIN);
      height = Math.max(height, p.y + MARGIN);
    }
  }
  return { width, height, nodes, edges };
}

export function Dag(props: {
  dag: Record<string, string[]>;
  steps: IStep[];
  selected: string | null;
  onSelect: (node: string) => void;
}): JSX.Element {
  const steps = React.useMemo(
    () => Object.fromEntries(props.steps.map(s => [s.node, s])),
    [props.steps]
  );
  const [drawn, setDrawn] = React.useState<ILayout | null>(null);
  const shape = JSON.stringify([
    props.dag,
    props.steps.map(s => [s.node, !!s.sweep_point])
  ]);
  React.useEffect(() => {
    let cancelled = false;
    void layout(props.dag, steps).then(l => !cancelled && setDrawn(l));
    return () => {
      cancelled = true;
    };
  }, [shape]);
  if (!drawn) {
    return <div className="jp-mlops-empty">laying out…</div>;
  }
  return (
    <svg
      className="jp-mlops-dag"
      viewBox={`0 0 ${drawn.width} ${drawn.height}`}
      width={drawn.width}
      height={drawn.height}
      role="img"
      aria-label="pipeline steps"
    >
      <defs>
        <marker
          id="jp-mlops-arrow"
          markerWidth="8"
          markerHeight="8"
          refX="7"
          refY="4"
          orient="auto"
        >
          <path d="M0,0 L8,4 L0,8 z" className="jp-mlops-dag-arrowhead" />
        </marker>
      </defs>
      {drawn.edges.map(e => (
        <polyline
          key={`${e.from}->${e.to}`}
          className="jp-mlops-dag-edge"
          data-edge={`${e.from}->${e.to}`}
          points={e.points.map(p => `${p.x},${p.y}`).join(' ')}
          markerEnd="url(#jp-mlops-arrow)"
        />
      ))}
      {drawn.nodes.map(n => {
        const step = steps[n.name];
        const status = step?.status ?? 'PENDING';
        const cached = !!step?.cached_from;
        const sweep = sweepLabel(step?.sweep_point);
        return (
          <g
            key={n.name}
            className={`jp-mlops-dag-node jp-mlops-status-${status.toLowerCase()} ${props.selected === n.name ? 'jp-mod-selected' : ''}`}
            data-node={n.name}
            data-status={status}
            data-cached={cached ? 'true' : 'false'}
            onClick={() => props.onSelect(n.name)}
          >
            <rect x={n.x} y={n.y} width={n.width} height={n.height} rx={6} />
            <text x={n.x + 8} y={n.y + 17} className="jp-mlops-dag-name">
              {clip(n.name, 24)}
            </text>
            <text x={n.x + 8} y={n.y + 34} className="jp-mlops-dag-status">
              {status}
              {cached ? ' · cached' : ''}
              {step?.best ? ' · ★ best' : ''}
            </text>
            {sweep && (
              <text x={n.x + 8} y={n.y + 51} className="jp-mlops-dag-sweep">
                {clip(sweep, 28)}
              </text>
            )}
            <title>{`${n.name}: ${status}${sweep ? ` (${sweep})` : ''}`}</title>
          </g>
        );
      })}
    </svg>
  );
}

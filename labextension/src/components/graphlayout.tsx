/**
 * Layered graph layout by dagre, shared by the pipeline DAG and the lineage graph: boxes of
 * given sizes placed left to right, edges routed between them (never under a box), and the
 * drawing sized to everything drawn. dagre loads in a chunk of its own the first time a graph
 * is laid out.
 */
import * as React from 'react';

export const GRAPH_MARGIN = 8;

export interface IGraphNode {
  id: string;
  width: number;
  height: number;
}

export interface IGraphEdge {
  from: string;
  to: string;
}

export interface IGraphLayout {
  width: number;
  height: number;
  /** Each node's box: its top-left corner and size. */
  nodes: { id: string; x: number; y: number; width: number; height: number }[];
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
}

export interface ILayoutOptions {
  rankdir?: 'LR' | 'TB';
  nodesep?: number;
  ranksep?: number;
}

type Dagre = typeof import('@dagrejs/dagre');
let loading: Promise<Dagre> | null = null;

function loadDagre(): Promise<Dagre> {
  loading =
    loading ?? import(/* webpackChunkName: "mlops-dagre" */ '@dagrejs/dagre');
  return loading;
}

/** Lay out ``nodes`` and the ``edges`` between them (edges to unknown nodes are left out). */
export async function layoutGraph(
  nodes: IGraphNode[],
  edges: IGraphEdge[],
  options: ILayoutOptions = {}
): Promise<IGraphLayout> {
  const dagre = await loadDagre();
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({
    rankdir: options.rankdir ?? 'LR',
    nodesep: options.nodesep ?? 16,
    ranksep: options.ranksep ?? 56,
    marginx: GRAPH_MARGIN,
    marginy: GRAPH_MARGIN
  });
  g.setDefaultEdgeLabel(() => ({}));
  const known = new Set(nodes.map(n => n.id));
  nodes.forEach(n => g.setNode(n.id, { width: n.width, height: n.height }));
  edges
    .filter(e => known.has(e.from) && known.has(e.to) && e.from !== e.to)
    .forEach(e => g.setEdge(e.from, e.to));
  dagre.layout(g);
  const placed = nodes.map(({ id }) => {
    const n = g.node(id);
    return {
      id,
      x: n.x - n.width / 2,
      y: n.y - n.height / 2,
      width: n.width,
      height: n.height
    };
  });
  const routed = g
    .edges()
    .map(e => ({ from: e.v, to: e.w, points: g.edge(e).points ?? [] }));
  // dagre's graph size leaves out edges routed around a rank (an edge that skips one): the
  // drawing is sized to everything drawn.
  const graph = g.graph();
  let width = graph.width ?? 0;
  let height = graph.height ?? 0;
  for (const edge of routed) {
    for (const p of edge.points) {
      width = Math.max(width, p.x + GRAPH_MARGIN);
      height = Math.max(height, p.y + GRAPH_MARGIN);
    }
  }
  return { width, height, nodes: placed, edges: routed };
}

/**
 * ``layoutGraph`` as a hook: the layout of the graph whose shape is ``key`` (a string that
 * changes when nodes or edges do), or null while it is computed.
 */
export function useGraphLayout(
  key: string,
  nodes: () => IGraphNode[],
  edges: () => IGraphEdge[],
  options?: ILayoutOptions
): IGraphLayout | null {
  const [drawn, setDrawn] = React.useState<IGraphLayout | null>(null);
  React.useEffect(() => {
    let cancelled = false;
    void layoutGraph(nodes(), edges(), options).then(
      l => !cancelled && setDrawn(l)
    );
    return () => {
      cancelled = true;
    };
  }, [key]);
  return drawn;
}

/** The arrowhead edges end in (``markerEnd="url(#<id>)"``). */
export function ArrowMarker(props: { id: string }): JSX.Element {
  return (
    <defs>
      <marker
        id={props.id}
        markerWidth="8"
        markerHeight="8"
        refX="7"
        refY="4"
        orient="auto"
      >
        <path d="M0,0 L8,4 L0,8 z" className="jp-mlops-dag-arrowhead" />
      </marker>
    </defs>
  );
}

/** An edge's route as the ``points`` of a polyline. */
export function polylinePoints(points: { x: number; y: number }[]): string {
  return points.map(p => `${p.x},${p.y}`).join(' ');
}

export function clip(text: string, chars: number): string {
  return text.length > chars ? text.slice(0, chars - 1) + '…' : text;
}

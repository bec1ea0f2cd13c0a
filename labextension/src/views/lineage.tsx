/**
 * Lineage view (main area): the graph around one run, model version, alias or dataset version,
 * upstream (what it came from) and downstream (what was made from it), laid out by dagre as the
 * pipeline DAG is. Every node opens its own view: a dataset its Dataset view, a run its Run
 * view, a pipeline run its Pipeline view, a model version, alias or served model its Model view.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { requestAPI } from '../api';
import { ErrorLine, Loading } from '../components/common';
import {
  ArrowMarker,
  clip,
  polylinePoints,
  useGraphLayout
} from '../components/graphlayout';
import { IOpener } from '../commands';
import {
  IServices,
  ServicesContext,
  useLiveTick,
  useServices
} from '../components/services';

export type LineageKind =
  'dataset' | 'run' | 'pipeline' | 'model' | 'alias' | 'served' | 'monitor';

export interface ILineageNode {
  id: string;
  kind: LineageKind;
  label: string;
  /** Where the node lies from the start: ``start``, ``up``, ``down`` (both when reached both ways). */
  sides: string[];
  name?: string;
  fingerprint?: string;
  rows?: number | null;
  run_id?: string | null;
  run_kind?: string;
  status?: string;
  version?: number;
}

export interface ILineageGraph {
  start: string[];
  direction: 'both' | 'up' | 'down';
  truncated: boolean;
  nodes: ILineageNode[];
  edges: { source: string; target: string; relation: string }[];
}

const NODE_WIDTH = 220;
const NODE_HEIGHT = 44;
const KIND_LABEL: Record<LineageKind, string> = {
  dataset: 'dataset',
  run: 'run',
  pipeline: 'pipeline',
  model: 'model version',
  alias: 'alias',
  served: 'served',
  monitor: 'monitor run'
};

/** Open the view a node stands for; false when it has none. */
export function openNode(open: IOpener, node: ILineageNode): boolean {
  const key = node.id.slice(node.id.indexOf(':') + 1);
  switch (node.kind) {
    case 'dataset':
      if (node.name) {
        open.dataset(node.name, node.fingerprint);
        return true;
      }
      return false;
    case 'pipeline':
      open.pipeline(node.run_id ?? key);
      return true;
    case 'run':
    case 'monitor':
      open.run(node.run_id ?? key);
      return true;
    case 'model':
      open.model(node.name ?? key.slice(0, key.lastIndexOf('/')), node.version);
      return true;
    case 'alias':
      open.model(key.slice(0, key.lastIndexOf('@')));
      return true;
    case 'served': {
      const slash = key.lastIndexOf('/');
      open.model(key.slice(0, slash), Number(key.slice(slash + 1)));
      return true;
    }
  }
  return false;
}

/** A short second line: a run's status, a dataset's rows. */
function detail(node: ILineageNode): string {
  if (node.kind === 'dataset') {
    return node.rows !== null && node.rows !== undefined
      ? `${KIND_LABEL.dataset} · ${node.rows.toLocaleString()} rows`
      : KIND_LABEL.dataset;
  }
  if (node.status) {
    return `${KIND_LABEL[node.kind]} · ${node.status}`;
  }
  return KIND_LABEL[node.kind] ?? node.kind;
}

export function LineageGraph(props: { graph: ILineageGraph }): JSX.Element {
  const { open } = useServices();
  const graph = props.graph;
  const byId = React.useMemo(
    () => Object.fromEntries(graph.nodes.map(n => [n.id, n])),
    [graph]
  );
  const shape = JSON.stringify([
    graph.nodes.map(n => n.id),
    graph.edges.map(e => [e.source, e.target])
  ]);
  const drawn = useGraphLayout(
    shape,
    () =>
      graph.nodes.map(n => ({
        id: n.id,
        width: NODE_WIDTH,
        height: NODE_HEIGHT
      })),
    () => graph.edges.map(e => ({ from: e.source, to: e.target })),
    { ranksep: 64 }
  );
  if (!drawn) {
    return <div className="jp-mlops-empty">laying out…</div>;
  }
  const relations = new Map(
    graph.edges.map(e => [`${e.source}->${e.target}`, e.relation])
  );
  return (
    <svg
      className="jp-mlops-dag jp-mlops-lineage-graph"
      viewBox={`0 0 ${drawn.width} ${drawn.height}`}
      width={drawn.width}
      height={drawn.height}
      role="img"
      aria-label="lineage graph"
    >
      <ArrowMarker id="jp-mlops-lineage-arrow" />
      {drawn.edges.map(e => {
        const relation = relations.get(`${e.from}->${e.to}`) ?? '';
        return (
          <polyline
            key={`${e.from}->${e.to}`}
            className="jp-mlops-dag-edge"
            data-edge={`${e.from}->${e.to}`}
            data-relation={relation}
            points={polylinePoints(e.points)}
            markerEnd="url(#jp-mlops-lineage-arrow)"
          >
            <title>{relation}</title>
          </polyline>
        );
      })}
      {drawn.nodes.map(box => {
        const node = byId[box.id];
        const start = graph.start.includes(box.id);
        return (
          <g
            key={box.id}
            className={`jp-mlops-dag-node jp-mlops-lineage-node jp-mlops-lineage-${node.kind} ${start ? 'jp-mod-selected jp-mlops-lineage-start' : ''}`}
            data-node={box.id}
            data-kind={node.kind}
            data-status={node.status ?? ''}
            data-side={node.sides.join(' ')}
            role="link"
            onClick={() => openNode(open, node)}
          >
            <rect
              x={box.x}
              y={box.y}
              width={box.width}
              height={box.height}
              rx={node.kind === 'dataset' ? 12 : 6}
            />
            <text x={box.x + 8} y={box.y + 17} className="jp-mlops-dag-name">
              {clip(node.label, 30)}
            </text>
            <text x={box.x + 8} y={box.y + 34} className="jp-mlops-dag-status">
              {clip(detail(node), 34)}
            </text>
            <title>{`${KIND_LABEL[node.kind] ?? node.kind}: ${node.label}`}</title>
          </g>
        );
      })}
    </svg>
  );
}

function LineagePage(props: {
  node: string;
  onTitle: (graph: ILineageGraph, start: ILineageNode | undefined) => void;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const tick = useLiveTick(ref);
  const [direction, setDirection] = React.useState<'both' | 'up' | 'down'>(
    'both'
  );
  const [graph, setGraph] = React.useState<ILineageGraph | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    requestAPI<ILineageGraph>('lineage', {}, { node: props.node, direction })
      .then(g => {
        setGraph(g);
        setError(null);
        props.onTitle(
          g,
          g.nodes.find(n => g.start.includes(n.id))
        );
      })
      .catch(e => setError(e.message));
  }, [props.node, direction, tick]);
  const start = graph?.nodes.find(n => graph.start.includes(n.id));
  return (
    <div
      ref={ref}
      className="jp-mlops-view jp-mlops-lineage-view"
      data-node={props.node}
    >
      <div className="jp-mlops-toolbar jp-mlops-view-header">
        <h2 className="jp-mlops-title">
          Lineage{start ? ` of ${start.label}` : ''}
        </h2>
        <span className="jp-mlops-spacer" />
        <label>
          show{' '}
          <select
            className="jp-mlops-lineage-direction"
            value={direction}
            onChange={e => setDirection(e.target.value as typeof direction)}
          >
            <option value="both">upstream and downstream</option>
            <option value="up">upstream: where it came from</option>
            <option value="down">downstream: what was made from it</option>
          </select>
        </label>
      </div>
      <ErrorLine error={error} />
      {!graph && !error && <Loading />}
      {graph && (
        <>
          <div className="jp-mlops-muted">
            {graph.nodes.length} nodes, {graph.edges.length} edges; click a node
            to open it.
            {graph.truncated
              ? ' The graph was cut short: it is too large.'
              : ''}
          </div>
          <div className="jp-mlops-legend">
            {(Object.keys(KIND_LABEL) as LineageKind[]).map(kind => (
              <span
                key={kind}
                className={`jp-mlops-legend-item jp-mlops-lineage-${kind}`}
              >
                {KIND_LABEL[kind]}
              </span>
            ))}
          </div>
          <div className="jp-mlops-dag-wrap">
            <LineageGraph graph={graph} />
          </div>
        </>
      )}
    </div>
  );
}

export class LineageView extends ReactWidget {
  constructor(
    private readonly services: IServices,
    readonly startNode: string,
    private readonly onTitle: (
      graph: ILineageGraph,
      start: ILineageNode | undefined
    ) => void
  ) {
    super();
    this.addClass('jp-mlops-main');
  }

  get args(): { node: string } {
    return { node: this.startNode };
  }

  render(): JSX.Element {
    return (
      <ServicesContext.Provider value={this.services}>
        <LineagePage node={this.startNode} onTitle={this.onTitle} />
      </ServicesContext.Provider>
    );
  }
}

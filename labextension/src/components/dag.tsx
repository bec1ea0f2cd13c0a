/**
 * A pipeline's DAG laid out by dagre (layered, left to right, edges routed between the boxes,
 * never under them; graphlayout.tsx, shared with the lineage graph) and drawn as SVG: each step
 * coloured by status (theme colours), a sweep point labelled with its parameter values, a cached
 * step and the sweep's best point marked.
 */
import * as React from 'react';

import { IStep } from '../api';
import {
  ArrowMarker,
  clip,
  polylinePoints,
  useGraphLayout
} from './graphlayout';

const NODE_WIDTH = 180;
const NODE_HEIGHT = 46;
const SWEEP_HEIGHT = 62;

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
  const shape = JSON.stringify([
    props.dag,
    props.steps.map(s => [s.node, !!s.sweep_point])
  ]);
  const drawn = useGraphLayout(
    shape,
    () =>
      Object.keys(props.dag).map(name => ({
        id: name,
        width: NODE_WIDTH,
        height: steps[name]?.sweep_point ? SWEEP_HEIGHT : NODE_HEIGHT
      })),
    () =>
      Object.entries(props.dag).flatMap(([name, ups]) =>
        (ups ?? []).map(up => ({ from: up, to: name }))
      )
  );
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
      <ArrowMarker id="jp-mlops-arrow" />
      {drawn.edges.map(e => (
        <polyline
          key={`${e.from}->${e.to}`}
          className="jp-mlops-dag-edge"
          data-edge={`${e.from}->${e.to}`}
          points={polylinePoints(e.points)}
          markerEnd="url(#jp-mlops-arrow)"
        />
      ))}
      {drawn.nodes.map(n => {
        const step = steps[n.id];
        const status = step?.status ?? 'PENDING';
        const cached = !!step?.cached_from;
        const sweep = sweepLabel(step?.sweep_point);
        return (
          <g
            key={n.id}
            className={`jp-mlops-dag-node jp-mlops-status-${status.toLowerCase()} ${props.selected === n.id ? 'jp-mod-selected' : ''}`}
            data-node={n.id}
            data-status={status}
            data-cached={cached ? 'true' : 'false'}
            onClick={() => props.onSelect(n.id)}
          >
            <rect x={n.x} y={n.y} width={n.width} height={n.height} rx={6} />
            <text x={n.x + 8} y={n.y + 17} className="jp-mlops-dag-name">
              {clip(n.id, 24)}
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
            <title>{`${n.id}: ${status}${sweep ? ` (${sweep})` : ''}`}</title>
          </g>
        );
      })}
    </svg>
  );
}

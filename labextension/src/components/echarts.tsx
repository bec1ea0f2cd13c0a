/**
 * ECharts behind a React component: created on a div, given a new option when its inputs
 * change, resized with its container, rebuilt with the theme's colours when the theme changes.
 */
import type { EChartsType } from 'echarts/core';
import * as React from 'react';

import { useTheme } from './services';

type Core = typeof import('./echartscore');
let loading: Promise<Core> | null = null;

export function loadECharts(): Promise<Core> {
  loading =
    loading ?? import(/* webpackChunkName: "mlops-echarts" */ './echartscore');
  return loading;
}

/**
 * A div with an ECharts instance: ``option`` is called with the theme version whenever it or
 * ``deps`` change; ``setup`` may connect events once the chart exists.
 */
export function EChart(props: {
  option: () => Record<string, unknown>;
  deps: React.DependencyList;
  setup?: (chart: EChartsType) => void;
  height: number;
  className?: string;
  attrs?: Record<string, string | number>;
}): JSX.Element {
  const theme = useTheme();
  const host = React.useRef<HTMLDivElement>(null);
  const chart = React.useRef<EChartsType | null>(null);
  const [ready, setReady] = React.useState(false);
  React.useEffect(() => {
    let disposed = false;
    let resize: ResizeObserver | null = null;
    void loadECharts().then(({ echarts }) => {
      if (disposed || !host.current) {
        return;
      }
      const instance = echarts.init(host.current, undefined, {
        renderer: 'canvas'
      });
      chart.current = instance;
      props.setup?.(instance);
      resize = new ResizeObserver(() => instance.resize());
      resize.observe(host.current);
      setReady(true);
    });
    return () => {
      disposed = true;
      resize?.disconnect();
      chart.current?.dispose();
      chart.current = null;
      setReady(false);
    };
  }, [theme]);
  React.useEffect(() => {
    if (ready && chart.current) {
      chart.current.setOption(props.option(), { notMerge: true });
      const node = host.current;
      if (node) {
        node.dataset.drawn = 'true';
        // How often the chart was given its data: a page can tell a redraw from none.
        node.dataset.options = String(Number(node.dataset.options ?? 0) + 1);
      }
    }
  }, [ready, ...props.deps]);
  return (
    <div
      ref={host}
      className={props.className}
      style={{ height: props.height }}
      {...Object.fromEntries(
        Object.entries(props.attrs ?? {}).map(([k, v]) => [`data-${k}`, v])
      )}
    />
  );
}

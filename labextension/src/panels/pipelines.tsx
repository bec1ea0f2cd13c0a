/**
 * Pipelines panel: pipeline runs, each DAG drawn with its steps coloured by status, the failing
 * step's cell and error, its executed notebook, and a re-run button.
 */
import * as React from 'react';

import { IPipelineRun, IStep, postAPI, requestAPI, short, when } from '../api';
import { DagView, StatusBadge } from '../charts';
import { RefreshBar, SelectableRow } from '../components';
import { IPanelSettings, IViewActions } from './common';

export function PipelinesPanel(props: {
  settings: IPanelSettings;
  actions: IViewActions;
}): JSX.Element {
  const [runs, setRuns] = React.useState<IPipelineRun[]>([]);
  const [chosen, setChosen] = React.useState<string | null>(null);
  const [detail, setDetail] = React.useState<IPipelineRun | null>(null);
  const [node, setNode] = React.useState<string | null>(null);
  const [message, setMessage] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [tick, setTick] = React.useState(0);

  React.useEffect(() => {
    requestAPI<{ pipelines: IPipelineRun[] }>('pipelines', {}, { limit: 20 })
      .then(r => {
        setRuns(r.pipelines);
        setError(null);
        setChosen(c => c ?? r.pipelines[0]?.run_id ?? null);
      })
      .catch(e => setError(e.message));
  }, [tick]);

  React.useEffect(() => {
    if (!chosen) {
      setDetail(null);
      return;
    }
    requestAPI<IPipelineRun>(`pipelines/${chosen}`)
      .then(d => {
        setDetail(d);
        const failed = d.steps.find(s => s.status === 'FAILED');
        setNode(n => (n && d.dag[n] ? n : failed?.node ?? null));
      })
      .catch(e => setError(e.message));
  }, [chosen, tick]);

  // Live while a pipeline (or the one shown) is still running.
  const running = runs.some(r => r.status === 'RUNNING') || detail?.status === 'RUNNING';
  React.useEffect(() => {
    if (!running) {
      return;
    }
    const timer = window.setTimeout(() => setTick(t => t + 1), props.settings.refreshInterval * 1000);
    return () => window.clearTimeout(timer);
  }, [running, runs, detail, props.settings.refreshInterval]);

  const rerun = async () => {
    if (!detail) {
      return;
    }
    try {
      const r = await postAPI<{ pid: number; log: string }>(`pipelines/${detail.run_id}/rerun`, {});
      setMessage(`started jupyter mlops run (pid ${r.pid}); log: ${r.log}`);
      window.setTimeout(() => setTick(t => t + 1), 1500);
    } catch (e: any) {
      setMessage(`re-run refused: ${e.message}`);
    }
  };

  const status: Record<string, string> = {};
  detail?.steps.forEach(s => (status[s.node] = s.status));
  const step: IStep | undefined = detail?.steps.find(s => s.node === node);

  return (
    <div className="jp-mlops-panel jp-mlops-pipelines">
      <RefreshBar onRefresh={() => setTick(t => t + 1)} error={error} />
      {runs.length === 0 && !error && <div className="jp-mlops-empty">No pipeline runs yet: jupyter mlops run pipeline.yaml</div>}
      <table className="jp-mlops-table jp-mlops-pipeline-list">
        <tbody>
          {runs.map(r => (
            <SelectableRow
              key={r.run_id}
              attrs={{ 'data-run': r.run_id }}
              selected={r.run_id === chosen}
              onSelect={() => setChosen(r.run_id)}
            >
              <td>{r.name}</td>
              <td>
                <StatusBadge status={r.status} />
              </td>
              <td>{when(r.start_time)}</td>
              <td>{short(r.run_id)}</td>
            </SelectableRow>
          ))}
        </tbody>
      </table>
      {detail && (
        <div className="jp-mlops-pipeline-detail">
          <div className="jp-mlops-toolbar">
            <b>{detail.name}</b> <StatusBadge status={detail.status} />
            <button className="jp-mlops-button jp-mlops-rerun" onClick={rerun} title={detail.spec ?? ''}>
              Re-run
            </button>
          </div>
          {message && <div className="jp-mlops-message">{message}</div>}
          <div className="jp-mlops-dag-wrap">
            <DagView
              dag={detail.dag}
              status={status}
              best={detail.steps.filter(s => s.best).map(s => s.node)}
              selected={node}
              onSelect={setNode}
            />
          </div>
          {step && (
            <div className="jp-mlops-step" data-step={step.node}>
              <div>
                <b>{step.node}</b> <StatusBadge status={step.status} /> attempt {step.attempt} · run {short(step.run_id)}
              </div>
              {step.note && <div className="jp-mlops-note">{step.note}</div>}
              {step.error && <div className="jp-mlops-error jp-mlops-step-error">{step.error}</div>}
              {step.failed_cell_source && (
                <>
                  <div>failing cell {step.failed_cell}:</div>
                  <pre className="jp-mlops-failed-cell">{step.failed_cell_source}</pre>
                </>
              )}
              {step.traceback && (
                <details>
                  <summary>traceback</summary>
                  <pre className="jp-mlops-traceback">{step.traceback}</pre>
                </details>
              )}
              {step.notebook && (
                <button className="jp-mlops-button" onClick={() => props.actions.openNotebook(step.run_id)}>
                  Open executed notebook
                </button>
              )}
            </div>
          )}
        </div>
      )}
    </div>
  );
}

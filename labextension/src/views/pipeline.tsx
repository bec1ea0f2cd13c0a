/**
 * Pipeline view (main area): one pipeline run's DAG, each step's detail (status, attempt,
 * duration, sweep values, whether it ran or was reused from the cache and why, its failing
 * cell and traceback, its params and metrics, links to its run and executed notebook), live
 * while it runs; Re-run starts the spec again and opens the new pipeline run.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  IPipelineRun,
  IRunDetail,
  IStep,
  ago,
  duration,
  fmt,
  postAPI,
  requestAPI,
  runDuration,
  short,
  when
} from '../api';
import {
  ErrorLine,
  KeyValues,
  Link,
  Loading,
  StatusBadge
} from '../components/common';
import { Dag, sweepLabel } from '../components/dag';
import {
  IServices,
  ServicesContext,
  useLiveTick,
  useServices
} from '../components/services';

const RERUN_WAIT_MS = 120_000;

function CacheStatus(props: { step: IStep }): JSX.Element {
  const { open } = useServices();
  const step = props.step;
  if (step.cached_from) {
    return (
      <div className="jp-mlops-cache" data-cache="hit">
        <b>cached</b>: reused the outputs of run{' '}
        <Link onClick={() => open.run(step.cached_from!)}>
          {short(step.cached_from)}
        </Link>
        {step.note
          ? ` — ${step.note}`
          : ' (same notebook, parameters, inputs and imported code)'}
      </div>
    );
  }
  if (step.status === 'SKIPPED') {
    return (
      <div className="jp-mlops-cache" data-cache="skipped">
        <b>skipped</b>
        {step.note ? `: ${step.note}` : ''}
      </div>
    );
  }
  return (
    <div className="jp-mlops-cache" data-cache="miss">
      <b>executed</b>
      {step.note ? `: ${step.note}` : ' (no cached run with the same key)'}
    </div>
  );
}

function StepDetail(props: { step: IStep; tick: number }): JSX.Element {
  const { open } = useServices();
  const step = props.step;
  const [run, setRun] = React.useState<IRunDetail | null>(null);
  React.useEffect(() => {
    requestAPI<IRunDetail>(`runs/${step.run_id}`)
      .then(setRun)
      .catch(() => setRun(null));
  }, [step.run_id, step.status, props.tick]);
  return (
    <div className="jp-mlops-step" data-step={step.node}>
      <div className="jp-mlops-toolbar">
        <h3 className="jp-mlops-title">{step.node}</h3>
        <StatusBadge status={step.status} />
        <Link
          className="jp-mlops-open-step-run"
          onClick={() => open.run(step.run_id)}
        >
          open run {short(step.run_id)}
        </Link>
        {step.notebook && (
          <button
            className="jp-mlops-button jp-mlops-open-notebook"
            onClick={() => open.notebook(step.run_id)}
          >
            Open executed notebook
          </button>
        )}
      </div>
      <CacheStatus step={step} />
      <KeyValues
        rows={[
          ['step', step.step],
          ['attempt', String(step.attempt)],
          [
            'started',
            step.start_time
              ? `${when(step.start_time)} (${ago(step.start_time)})`
              : '–'
          ],
          ['duration', duration(runDuration(step))],
          ['sweep values', sweepLabel(step.sweep_point) || '–'],
          ['upstream', step.upstream.join(', ') || '–']
        ]}
      />
      {step.error && (
        <div className="jp-mlops-error jp-mlops-step-error">{step.error}</div>
      )}
      {step.failed_cell_source && (
        <>
          <div>failing cell {step.failed_cell}:</div>
          <pre className="jp-mlops-failed-cell">{step.failed_cell_source}</pre>
        </>
      )}
      {step.traceback && (
        <details open={step.status === 'FAILED'}>
          <summary>traceback</summary>
          <pre className="jp-mlops-traceback">{step.traceback}</pre>
        </details>
      )}
      {run && (
        <div className="jp-mlops-step-values">
          <div>
            <h4>Parameters</h4>
            <KeyValues
              rows={Object.entries(run.params).map(([k, v]) => [k, v])}
            />
          </div>
          <div>
            <h4>Metrics</h4>
            <KeyValues
              rows={Object.entries(run.metrics).map(([k, v]) => [k, fmt(v)])}
            />
          </div>
          <div>
            <h4>Outputs</h4>
            <ul className="jp-mlops-plain-list">
              {run.artifacts.map(a => (
                <li key={a.path}>{a.path}</li>
              ))}
            </ul>
          </div>
        </div>
      )}
    </div>
  );
}

function PipelinePage(props: {
  runId: string;
  onTitle: (p: IPipelineRun) => void;
}): JSX.Element {
  const { open } = useServices();
  const ref = React.useRef<HTMLDivElement>(null);
  const tick = useLiveTick(ref);
  const [pipeline, setPipeline] = React.useState<IPipelineRun | null>(null);
  const [node, setNode] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [message, setMessage] = React.useState<string | null>(null);
  React.useEffect(() => {
    requestAPI<IPipelineRun>(`pipelines/${props.runId}`)
      .then(p => {
        setPipeline(p);
        setError(null);
        props.onTitle(p);
        const failed = p.steps.find(s => s.status === 'FAILED');
        setNode(n => (n && p.dag[n] ? n : (failed?.node ?? null)));
      })
      .catch(e => setError(e.message));
  }, [props.runId, tick]);

  const rerun = async () => {
    if (!pipeline) {
      return;
    }
    try {
      const started = await postAPI<{
        pid: number;
        log: string;
        started_at: number;
      }>(`pipelines/${pipeline.run_id}/rerun`, {});
      setMessage(
        `started (pid ${started.pid}); opening the new run when it appears… log: ${started.log}`
      );
      const deadline = Date.now() + RERUN_WAIT_MS;
      const look = async (): Promise<void> => {
        const { pipelines } = await requestAPI<{ pipelines: IPipelineRun[] }>(
          'pipelines',
          {},
          { limit: 10 }
        );
        const fresh = pipelines.find(
          p =>
            p.run_id !== pipeline.run_id &&
            p.spec === pipeline.spec &&
            p.start_time >= started.started_at - 1000
        );
        if (fresh) {
          setMessage(null);
          open.pipeline(fresh.run_id);
        } else if (Date.now() < deadline) {
          window.setTimeout(() => void look(), 1000);
        } else {
          setMessage(
            `the re-run has not recorded a pipeline run yet; see its log: ${started.log}`
          );
        }
      };
      await look();
    } catch (e: any) {
      setMessage(`re-run refused: ${e.message}`);
    }
  };

  const step = pipeline?.steps.find(s => s.node === node);
  return (
    <div
      ref={ref}
      className="jp-mlops-view jp-mlops-pipeline-view"
      data-run={props.runId}
    >
      <ErrorLine error={error} />
      {!pipeline && !error && <Loading />}
      {pipeline && (
        <>
          <div className="jp-mlops-toolbar jp-mlops-view-header">
            <h2 className="jp-mlops-title">{pipeline.name}</h2>
            <StatusBadge status={pipeline.status} />
            <span className="jp-mlops-muted">
              {when(pipeline.start_time)} · {duration(runDuration(pipeline))} ·{' '}
              {pipeline.steps.length} steps
            </span>
            <Link onClick={() => open.run(pipeline.run_id)}>
              run {short(pipeline.run_id)}
            </Link>
            <span className="jp-mlops-spacer" />
            <button
              className="jp-mlops-button jp-mlops-rerun"
              onClick={() => void rerun()}
              title={pipeline.spec ?? ''}
            >
              Re-run
            </button>
          </div>
          {message && <div className="jp-mlops-message">{message}</div>}
          <div className="jp-mlops-muted">spec: {pipeline.spec ?? '–'}</div>
          <div className="jp-mlops-dag-wrap">
            <Dag
              dag={pipeline.dag}
              steps={pipeline.steps}
              selected={node}
              onSelect={setNode}
            />
          </div>
          {step ? (
            <StepDetail step={step} tick={tick} />
          ) : (
            <div className="jp-mlops-empty">Click a step for its detail.</div>
          )}
        </>
      )}
    </div>
  );
}

export class PipelineView extends ReactWidget {
  constructor(
    private readonly services: IServices,
    readonly runId: string,
    private readonly onTitle: (p: IPipelineRun) => void
  ) {
    super();
    this.addClass('jp-mlops-main');
  }

  get args(): { id: string } {
    return { id: this.runId };
  }

  render(): JSX.Element {
    return (
      <ServicesContext.Provider value={this.services}>
        <PipelinePage runId={this.runId} onTitle={this.onTitle} />
      </ServicesContext.Provider>
    );
  }
}

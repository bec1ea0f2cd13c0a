/**
 * Run view (main area): everything about one run. Overview (status with the error and
 * traceback of a failed run, duration, user, source notebook, git commit and the dirty diff,
 * environment, parent / pipeline / model-version links, the Markdown note editable in place,
 * approval), params, metrics (latest, min, max and a chart each), artifacts with previews,
 * datasets, tags, and the notebook snapshot (read-only, untrusted) with a diff against another run.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  IRunDetail,
  IRunsPage,
  ago,
  duration,
  fmt,
  postAPI,
  requestAPI,
  runDuration,
  runLabel,
  short,
  when
} from '../api';
import { ApprovalBadge, Decide } from '../components/approval';
import { ArtifactBrowser, Preview } from '../components/artifacts';
import {
  ErrorLine,
  KeyValues,
  Link,
  Loading,
  StatusBadge,
  Tabs
} from '../components/common';
import { StepCharts } from '../components/stepcharts';
import { Markdown } from '../components/markdown';
import {
  IServices,
  ServicesContext,
  useLiveTick,
  useServices
} from '../components/services';

/** What mlops.evaluate records on the run it evaluates (evaluation/evaluate.py). */
const EVALUATION_REPORT = 'evaluation/report.html';

/** The Markdown note: rendered (sanitized), editable in place, saved through the server. */
function Note(props: { run: IRunDetail; onSaved: () => void }): JSX.Element {
  const [editing, setEditing] = React.useState(false);
  const [draft, setDraft] = React.useState(props.run.note);
  const [error, setError] = React.useState<string | null>(null);
  const save = async () => {
    try {
      await postAPI(`runs/${props.run.run_id}/note`, { note: draft });
      setEditing(false);
      setError(null);
      props.onSaved();
    } catch (e: any) {
      setError(e.message);
    }
  };
  return (
    <section className="jp-mlops-note-section">
      <h3>
        Note{' '}
        {!editing && (
          <button
            className="jp-mlops-button jp-mlops-edit-note"
            onClick={() => {
              setDraft(props.run.note);
              setEditing(true);
            }}
          >
            Edit
          </button>
        )}
      </h3>
      {editing ? (
        <div className="jp-mlops-note-editor">
          <textarea
            className="jp-mlops-note-input"
            aria-label="note (Markdown)"
            value={draft}
            rows={8}
            onChange={e => setDraft(e.target.value)}
          />
          <div className="jp-mlops-toolbar">
            <button
              className="jp-mlops-button jp-mlops-save-note"
              onClick={() => void save()}
            >
              Save
            </button>
            <button
              className="jp-mlops-button"
              onClick={() => setEditing(false)}
            >
              Cancel
            </button>
          </div>
        </div>
      ) : props.run.note ? (
        <Markdown source={props.run.note} className="jp-mlops-note" />
      ) : (
        <div className="jp-mlops-empty">
          No note yet. Edit to say what this run was for (Markdown).
        </div>
      )}
      <ErrorLine error={error} />
    </section>
  );
}

function Failure(props: { run: IRunDetail }): JSX.Element | null {
  const run = props.run;
  if (!run.error && !run.traceback) {
    return null;
  }
  return (
    <section className="jp-mlops-failure">
      <h3>Why it failed</h3>
      {run.error && (
        <div className="jp-mlops-error jp-mlops-run-error">{run.error}</div>
      )}
      {run.failed_cell !== null && <div>failing cell: {run.failed_cell}</div>}
      {run.traceback && (
        <pre className="jp-mlops-traceback">{run.traceback}</pre>
      )}
    </section>
  );
}

function Overview(props: { run: IRunDetail; reload: () => void }): JSX.Element {
  const { open } = useServices();
  const run = props.run;
  const [showDiff, setShowDiff] = React.useState(false);
  const git = run.lineage.git;
  const env = run.environment;
  const rows: [string, React.ReactNode][] = [
    ['status', <StatusBadge key="s" status={run.status} />],
    [
      'experiment',
      <Link key="e" onClick={() => open.experiment(run.experiment)}>
        {run.experiment}
      </Link>
    ],
    ['started', `${when(run.start_time)} (${ago(run.start_time)})`],
    ['ended', when(run.end_time)],
    ['duration', duration(runDuration(run))],
    ['user', run.user ?? '–'],
    ['source', run.lineage.source.path ?? '–'],
    [
      'git',
      git.commit ? (
        <span key="g">
          <code>{git.commit.slice(0, 12)}</code>
          {git.dirty ? ' with uncommitted changes ' : ' (clean)'}
          {run.git_diff && (
            <button
              className="jp-mlops-link jp-mlops-show-diff"
              onClick={() => setShowDiff(s => !s)}
            >
              {showDiff ? 'hide the diff' : 'show the diff'}
            </button>
          )}
        </span>
      ) : (
        '–'
      )
    ],
    [
      'environment',
      env ? (
        <details key="env">
          <summary>
            Python {env.python_version} on {env.platform} ·{' '}
            {Object.keys(env.packages).length} packages
          </summary>
          <table className="jp-mlops-table jp-mlops-packages">
            <tbody>
              {Object.entries(env.packages).map(([name, version]) => (
                <tr key={name}>
                  <td>{name}</td>
                  <td>{version}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ) : (
        '–'
      )
    ],
    ['run id', <code key="id">{run.run_id}</code>]
  ];
  if (run.lineage.parent) {
    const parent = run.lineage.parent;
    rows.push([
      'parent',
      <Link key="p" onClick={() => open.run(parent.run_id)}>
        {parent.name || short(parent.run_id)}
      </Link>
    ]);
  }
  if (run.pipeline && run.pipeline.run_id !== run.run_id) {
    const pipeline = run.pipeline;
    rows.push([
      'pipeline',
      <span key="pl">
        <Link
          className="jp-mlops-pipeline-link"
          onClick={() => open.pipeline(pipeline.run_id)}
        >
          {pipeline.name}
        </Link>
        {pipeline.step ? ` · step ${pipeline.step}` : ''}
      </span>
    ]);
  }
  if (run.model_versions.length) {
    rows.push([
      'model versions',
      <span key="mv">
        {run.model_versions.map(v => (
          <Link
            key={`${v.name}/${v.version}`}
            className="jp-mlops-version-link"
            onClick={() => open.model(v.name, v.version)}
          >
            {v.name} v{v.version}
          </Link>
        ))}
      </span>
    ]);
  }
  if (run.lineage.children.length) {
    rows.push([
      'child runs',
      <span key="c">
        {run.lineage.children.map(c => (
          <Link key={c.run_id} onClick={() => open.run(c.run_id)}>
            {c.name || short(c.run_id)} <StatusBadge status={c.status} />
          </Link>
        ))}
      </span>
    ]);
  }
  const summary = Object.entries(run.metric_summary);
  return (
    <div className="jp-mlops-overview">
      <Failure run={run} />
      <KeyValues rows={rows} className="jp-mlops-run-facts" />
      {showDiff && run.git_diff && (
        <Preview
          runId={run.run_id}
          artifact={run.artifacts.find(a => a.path === run.git_diff)!}
        />
      )}
      <Note run={run} onSaved={props.reload} />
      <section>
        <h3>Approval</h3>
        <ApprovalBadge approval={run.approval} />{' '}
        {run.approval && (
          <span className="jp-mlops-approval-record">
            by {run.approval.actor} on {when(run.approval.created_at)}: “
            {run.approval.reason}”
          </span>
        )}
        {run.artifacts.some(a => a.path.startsWith('model/')) && (
          <Decide runId={run.run_id} onDone={props.reload} />
        )}
      </section>
      <section>
        <h3>Parameters</h3>
        <KeyValues
          rows={Object.entries(run.params).map(([k, v]) => [k, v])}
          className="jp-mlops-params"
        />
      </section>
      <section>
        <h3>Metrics</h3>
        <table className="jp-mlops-table jp-mlops-metric-summary">
          <thead>
            <tr>
              <th>metric</th>
              <th>latest</th>
              <th>step</th>
              <th>min</th>
              <th>max</th>
              <th>points</th>
            </tr>
          </thead>
          <tbody>
            {summary.map(([key, m]) => (
              <tr key={key} data-metric={key}>
                <td>{key}</td>
                <td className="jp-mlops-num">{fmt(m.latest)}</td>
                <td className="jp-mlops-num">{m.step}</td>
                <td className="jp-mlops-num">{fmt(m.min)}</td>
                <td className="jp-mlops-num">{fmt(m.max)}</td>
                <td className="jp-mlops-num">{m.points}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h3>Tags</h3>
        <KeyValues
          rows={Object.entries(run.user_tags).map(([k, v]) => [k, v])}
          className="jp-mlops-tags"
        />
      </section>
      {(run.datasets ?? []).length > 0 && (
        <section>
          <h3>Datasets</h3>
          <table className="jp-mlops-table jp-mlops-datasets">
            <thead>
              <tr>
                <th>name</th>
                <th>rows</th>
                <th>columns</th>
                <th>fingerprint</th>
              </tr>
            </thead>
            <tbody>
              {(run.datasets ?? []).map(d => (
                <tr key={`${d.name}-${d.fingerprint}`}>
                  <td>{d.name}</td>
                  <td className="jp-mlops-num">{d.rows}</td>
                  <td className="jp-mlops-num">{d.columns}</td>
                  <td>
                    <code>{d.fingerprint.slice(0, 12)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}

/** One chart per metric of the run. */
function MetricCharts(props: { run: IRunDetail; tick: number }): JSX.Element {
  const keys = Object.keys(props.run.metric_summary);
  if (keys.length === 0) {
    return <div className="jp-mlops-empty">This run logged no metrics.</div>;
  }
  return (
    <StepCharts
      metrics={keys}
      runIds={[props.run.run_id]}
      maxPoints={1000}
      tick={props.tick}
    />
  );
}

function NotebookTab(props: { run: IRunDetail }): JSX.Element {
  const { open } = useServices();
  const run = props.run;
  const [others, setOthers] = React.useState<IRunsPage | null>(null);
  const [other, setOther] = React.useState('');
  React.useEffect(() => {
    requestAPI<IRunsPage>(
      'runs',
      {},
      { experiment: run.experiment, page_size: 100 }
    )
      .then(setOthers)
      .catch(() => undefined);
  }, [run.experiment]);
  const notebook = run.notebook;
  if (!notebook) {
    return (
      <div className="jp-mlops-empty">This run has no notebook snapshot.</div>
    );
  }
  const artifact = run.artifacts.find(a => a.path === notebook)!;
  return (
    <div>
      <div className="jp-mlops-toolbar">
        diff against{' '}
        <select
          aria-label="diff against"
          className="jp-mlops-diff-against"
          value={other}
          onChange={e => setOther(e.target.value)}
        >
          <option value="">another run…</option>
          {(others?.runs ?? [])
            .filter(r => r.run_id !== run.run_id)
            .map(r => (
              <option key={r.run_id} value={r.run_id}>
                {runLabel(r)} ({short(r.run_id)})
              </option>
            ))}
        </select>
        <button
          className="jp-mlops-button jp-mlops-open-diff"
          disabled={!other}
          onClick={() => open.diff(other, run.run_id)}
        >
          Notebook diff
        </button>
      </div>
      <Preview runId={run.run_id} artifact={artifact} />
    </div>
  );
}

function RunPage(props: {
  runId: string;
  onTitle: (run: IRunDetail) => void;
}): JSX.Element {
  const { open } = useServices();
  const ref = React.useRef<HTMLDivElement>(null);
  const tick = useLiveTick(ref);
  const [run, setRun] = React.useState<IRunDetail | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [reloads, setReloads] = React.useState(0);
  const reload = () => setReloads(r => r + 1);
  React.useEffect(() => {
    requestAPI<IRunDetail>(`runs/${props.runId}`)
      .then(detail => {
        setRun(detail);
        setError(null);
        props.onTitle(detail);
      })
      .catch(e => setError(e.message));
  }, [props.runId, reloads, tick]);
  return (
    <div
      ref={ref}
      className="jp-mlops-view jp-mlops-run-view"
      data-run={run?.run_id ?? props.runId}
    >
      <ErrorLine error={error} />
      {!run && !error && <Loading />}
      {run && (
        <>
          <div className="jp-mlops-toolbar jp-mlops-view-header">
            <h2 className="jp-mlops-title">{runLabel(run)}</h2>
            <StatusBadge status={run.status} />
            <span className="jp-mlops-muted">
              in{' '}
              <Link onClick={() => open.experiment(run.experiment)}>
                {run.experiment}
              </Link>{' '}
              · {short(run.run_id)}
            </span>
            <span className="jp-mlops-spacer" />
            <button
              className="jp-mlops-button jp-mlops-open-lineage"
              onClick={() => open.lineage(`run:${run.run_id}`)}
            >
              Lineage
            </button>
          </div>
          <Tabs
            tabs={[
              {
                id: 'overview',
                label: 'Overview',
                render: () => <Overview run={run} reload={reload} />
              },
              {
                id: 'charts',
                label: `Metrics (${Object.keys(run.metric_summary).length})`,
                render: () => <MetricCharts run={run} tick={tick} />
              },
              {
                id: 'artifacts',
                label: `Artifacts (${run.artifacts.length})`,
                render: () => (
                  <ArtifactBrowser
                    runId={run.run_id}
                    artifacts={run.artifacts}
                  />
                )
              },
              ...evaluationTab(run),
              {
                id: 'notebook',
                label: 'Notebook',
                render: () => <NotebookTab run={run} />
              }
            ]}
          />
        </>
      )}
    </div>
  );
}

/** The run's evaluation (mlops.evaluate): its report, with the slice tables, fairness gaps and
 * explanations, drawn in a frame that runs no script; no tab for a run never evaluated. */
function evaluationTab(run: IRunDetail) {
  const report = run.artifacts.find(a => a.path === EVALUATION_REPORT);
  if (!report) {
    return [];
  }
  return [
    {
      id: 'evaluation',
      label: 'Evaluation',
      render: () => (
        <div className="jp-mlops-evaluation">
          <Preview runId={run.run_id} artifact={report} />
        </div>
      )
    }
  ];
}

export class RunView extends ReactWidget {
  constructor(
    private readonly services: IServices,
    readonly runId: string,
    private readonly onTitle: (run: IRunDetail) => void
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
        <RunPage runId={this.runId} onTitle={this.onTitle} />
      </ServicesContext.Provider>
    );
  }
}

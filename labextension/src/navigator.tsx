/**
 * The MLOps sidebar: a navigator, not a workspace. Experiments with their run counts, recent
 * pipeline runs, registered models with their aliases, runs waiting for an approval decision,
 * the dataset catalog with version counts, schedules with their next fire time and last status,
 * and a search box over all of them (and over run names and ids); each entry opens its view
 * in the main area. Live like the views: it reloads when the store's change cursor moves.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  IExperiment,
  IModel,
  IPipelineRun,
  IRunsPage,
  ago,
  filterString,
  requestAPI,
  runLabel,
  short
} from './api';
import { AliasChip, ErrorLine, StatusBadge } from './components/common';
import {
  IServices,
  ServicesContext,
  useLiveTick,
  useServices
} from './components/services';
import { IDatasetSummary } from './views/dataset';
import { ISchedule, nextLabel } from './views/schedule';

interface IPending {
  run_id: string;
  name: string | null;
  experiment: string;
  start_time: number;
}

interface INavigation {
  experiments: IExperiment[];
  pipelines: IPipelineRun[];
  models: IModel[];
  pending: IPending[];
  datasets: IDatasetSummary[];
  schedules: ISchedule[];
}

const RECENT_PIPELINES = 10;
const FOUND_RUNS = 10;

function Section(props: {
  title: string;
  count?: number;
  children: React.ReactNode;
  empty: string;
  id: string;
}): JSX.Element {
  const items = React.Children.count(props.children);
  return (
    <section className="jp-mlops-nav-section" data-section={props.id}>
      <h3>
        {props.title}
        {props.count !== undefined ? (
          <span className="jp-mlops-muted"> {props.count}</span>
        ) : null}
      </h3>
      {items === 0 ? (
        <div className="jp-mlops-empty">{props.empty}</div>
      ) : (
        <ul className="jp-mlops-nav-list">{props.children}</ul>
      )}
    </section>
  );
}

function Navigator(): JSX.Element {
  const { open } = useServices();
  const ref = React.useRef<HTMLDivElement>(null);
  const tick = useLiveTick(ref);
  const [nav, setNav] = React.useState<INavigation | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [search, setSearch] = React.useState('');
  const [found, setFound] = React.useState<IRunsPage | null>(null);

  React.useEffect(() => {
    Promise.all([
      requestAPI<{ experiments: IExperiment[] }>('experiments'),
      requestAPI<{ pipelines: IPipelineRun[] }>(
        'pipelines',
        {},
        { limit: RECENT_PIPELINES }
      ),
      requestAPI<{ models: IModel[] }>('models'),
      requestAPI<{ runs: IPending[] }>('approvals/pending', {}, { limit: 20 }),
      requestAPI<{ datasets: IDatasetSummary[] }>('datasets'),
      requestAPI<{ schedules: ISchedule[] }>('schedules')
    ])
      .then(([e, p, m, a, d, s]) => {
        setNav({
          experiments: e.experiments,
          pipelines: p.pipelines,
          models: m.models,
          pending: a.runs,
          datasets: d.datasets,
          schedules: s.schedules
        });
        setError(null);
      })
      .catch(e => setError(e.message));
  }, [tick]);

  // Runs whose name contains the search text, or whose id starts with it.
  React.useEffect(() => {
    const text = search.trim();
    if (text.length < 2) {
      setFound(null);
      return;
    }
    const escaped = text.replace(/[%_]/g, '');
    const filter = `name LIKE ${filterString(`%${escaped}%`)} OR id LIKE ${filterString(`${escaped}%`)}`;
    const timer = window.setTimeout(() => {
      requestAPI<IRunsPage>('runs', {}, { filter, page_size: FOUND_RUNS })
        .then(setFound)
        .catch(() => setFound(null));
    }, 250);
    return () => window.clearTimeout(timer);
  }, [search, tick]);

  const matches = (text: string) =>
    text.toLowerCase().includes(search.trim().toLowerCase());
  const experiments = (nav?.experiments ?? []).filter(e => matches(e.name));
  const pipelines = (nav?.pipelines ?? []).filter(p => matches(p.name ?? ''));
  const models = (nav?.models ?? []).filter(m => matches(m.name));
  const pending = (nav?.pending ?? []).filter(p => matches(p.name ?? p.run_id));
  const datasets = (nav?.datasets ?? []).filter(d => matches(d.name));
  const schedules = (nav?.schedules ?? []).filter(s => matches(s.name));

  return (
    <div ref={ref} className="jp-mlops-navigator">
      <input
        className="jp-mlops-search"
        type="search"
        placeholder="search experiments, runs, pipelines, models, datasets"
        aria-label="search"
        value={search}
        onChange={e => setSearch(e.target.value)}
      />
      <ErrorLine error={error} />
      {found && (
        <Section
          title="Runs"
          count={found.total}
          id="runs"
          empty="No run matches."
        >
          {found.runs.map(r => (
            <li
              key={r.run_id}
              data-run={r.run_id}
              onClick={() => open.run(r.run_id)}
              title={`${r.experiment} · ${r.run_id}`}
            >
              <span className="jp-mlops-nav-name">{runLabel(r)}</span>{' '}
              <StatusBadge status={r.status} />
            </li>
          ))}
        </Section>
      )}
      <Section
        title="Experiments"
        count={experiments.length}
        id="experiments"
        empty="No experiments yet: log a run."
      >
        {experiments.map(e => (
          <li
            key={e.name}
            data-experiment={e.name}
            onClick={() => open.experiment(e.name)}
            title={`open experiment ${e.name}`}
          >
            <span className="jp-mlops-nav-name">{e.name}</span>
            <span className="jp-mlops-nav-count" data-runs={e.runs}>
              {e.runs.toLocaleString()} runs
            </span>
          </li>
        ))}
      </Section>
      <Section
        title="Recent pipeline runs"
        id="pipelines"
        empty="No pipeline runs yet: jupyter mlops run pipeline.yaml"
      >
        {pipelines.map(p => (
          <li
            key={p.run_id}
            data-run={p.run_id}
            onClick={() => open.pipeline(p.run_id)}
            title={p.spec ?? ''}
          >
            <span className="jp-mlops-nav-name">{p.name}</span>{' '}
            <StatusBadge status={p.status} />
            <span className="jp-mlops-muted">{ago(p.start_time)}</span>
          </li>
        ))}
      </Section>
      <Section
        title="Models"
        count={models.length}
        id="models"
        empty="No registered models yet."
      >
        {models.map(m => (
          <li
            key={m.name}
            data-model={m.name}
            onClick={() => open.model(m.name)}
          >
            <span className="jp-mlops-nav-name">{m.name}</span>{' '}
            <span className="jp-mlops-muted">v{m.latest_version}</span>{' '}
            {Object.entries(m.aliases).map(([a, v]) => (
              <AliasChip key={a} alias={a} version={v} />
            ))}
          </li>
        ))}
      </Section>
      <Section
        title="Awaiting approval"
        count={pending.length}
        id="pending"
        empty="No runs with a model wait for a decision."
      >
        {pending.map(p => (
          <li
            key={p.run_id}
            data-run={p.run_id}
            onClick={() => open.run(p.run_id)}
          >
            <span className="jp-mlops-nav-name">
              {p.name ?? short(p.run_id)}
            </span>{' '}
            <span className="jp-mlops-muted">
              {p.experiment} · {ago(p.start_time)}
            </span>
          </li>
        ))}
      </Section>
      <Section
        title="Datasets"
        count={datasets.length}
        id="datasets"
        empty="No datasets yet: log_dataset, or a pipeline step's files."
      >
        {datasets.map(d => (
          <li
            key={d.name}
            data-dataset={d.name}
            onClick={() => open.dataset(d.name)}
            title={d.source_uri ?? d.name}
          >
            <span className="jp-mlops-nav-name">{d.name}</span>
            <span className="jp-mlops-nav-count" data-versions={d.versions}>
              {d.versions} version{d.versions === 1 ? '' : 's'}
            </span>
          </li>
        ))}
      </Section>
      <Section
        title="Schedules"
        count={schedules.length}
        id="schedules"
        empty="No schedules yet: Schedule… in a notebook's toolbar."
      >
        {schedules.map(s => (
          <li
            key={s.name}
            data-schedule={s.name}
            data-paused={String(s.paused)}
            onClick={() => open.schedule(s.name)}
            title={`${s.description} (${s.cron}, ${s.timezone}); next ${nextLabel(s)}`}
          >
            <span className="jp-mlops-nav-name">{s.name}</span>{' '}
            {s.last && <StatusBadge status={s.last.state} />}
            <span className="jp-mlops-muted jp-mlops-next-fire">
              {s.paused ? 'paused' : `next ${nextLabel(s).slice(5, 16)}`}
            </span>
          </li>
        ))}
      </Section>
    </div>
  );
}

export class NavigatorWidget extends ReactWidget {
  constructor(private readonly services: IServices) {
    super();
    this.addClass('jp-mlops-sidebar');
  }

  render(): JSX.Element {
    return (
      <ServicesContext.Provider value={this.services}>
        <Navigator />
      </ServicesContext.Provider>
    );
  }
}

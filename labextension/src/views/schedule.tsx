/**
 * Schedule view (main area): one schedule (what it runs, its cron in words and its zone, the next
 * fire time, its policies) and its history (each occurrence's scheduled time, status, attempts,
 * duration, error and the run it made, which opens its Run view), with Pause / Resume and Run now,
 * done as the signed-in user and audited by the server (a viewer is refused, and told so).
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { duration, postAPI, requestAPI, short, when } from '../api';
import {
  ErrorLine,
  KeyValues,
  Link,
  Loading,
  StatusBadge
} from '../components/common';
import {
  IServices,
  ServicesContext,
  useLiveTick,
  useServices
} from '../components/services';

export interface IOccurrence {
  id: number;
  scheduled_time: number;
  scheduled: string;
  state: string;
  attempt: number;
  run_id: string | null;
  started_at: number | null;
  ended_at: number | null;
  duration_s: number | null;
  error: string | null;
  note: string | null;
}

export interface ISchedule {
  id: number;
  name: string;
  kind: 'pipeline' | 'notebook' | 'monitor';
  target: Record<string, unknown>;
  cron: string;
  description: string;
  timezone: string;
  parameters: Record<string, unknown>;
  overlap: string;
  catchup: string;
  retries: number;
  timeout: number | null;
  paused: boolean;
  next_fire_at: number | null;
  next_fire_time: string | null;
  created_by: string;
  created_at: number;
  last: IOccurrence | null;
}

export function scheduleEndpoint(name: string, action?: string): string {
  return `schedules/${encodeURIComponent(name)}${action ? `/${action}` : ''}`;
}

/** What a schedule runs, in a few words. */
export function targetLabel(s: ISchedule): string {
  const t = s.target;
  const text = t.notebook ?? t.spec ?? t.reference ?? '';
  return String(text);
}

/** "paused", or when it fires next (in the schedule's zone). */
export function nextLabel(s: ISchedule): string {
  if (s.paused) {
    return 'paused';
  }
  // 2026-12-03T06:00:00+01:00 -> 2026-12-03 06:00 +01:00 (in the schedule's own zone)
  return s.next_fire_time
    ? s.next_fire_time.replace('T', ' ').replace(/:\d\d(?=[+-]\d\d:\d\d$)/, ' ')
    : '–';
}

function History(props: { history: IOccurrence[] }): JSX.Element {
  const { open } = useServices();
  if (props.history.length === 0) {
    return (
      <div className="jp-mlops-empty">
        Nothing has fired yet. Occurrences run while a scheduler runs: jupyter
        mlops scheduler
      </div>
    );
  }
  return (
    <table className="jp-mlops-table jp-mlops-schedule-history">
      <thead>
        <tr>
          <th>scheduled</th>
          <th>status</th>
          <th>attempt</th>
          <th>started</th>
          <th>duration</th>
          <th>run</th>
          <th>error / note</th>
        </tr>
      </thead>
      <tbody>
        {props.history.map(o => (
          <tr key={o.id} data-occurrence={o.id} data-state={o.state}>
            <td>{o.scheduled}</td>
            <td>
              <StatusBadge status={o.state} />
            </td>
            <td>{o.attempt}</td>
            <td>{when(o.started_at)}</td>
            <td>
              {o.duration_s !== null ? duration(o.duration_s * 1000) : '–'}
            </td>
            <td>
              {o.run_id ? (
                <Link
                  className="jp-mlops-occurrence-run"
                  onClick={() => open.run(o.run_id!)}
                >
                  {short(o.run_id)}
                </Link>
              ) : (
                '–'
              )}
            </td>
            <td className="jp-mlops-occurrence-error">
              {o.error ? (
                <details>
                  <summary>
                    {o.error.trim().split('\n').slice(-1)[0].slice(0, 120)}
                  </summary>
                  <pre className="jp-mlops-traceback">{o.error}</pre>
                </details>
              ) : (
                (o.note ?? '')
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function SchedulePage(props: {
  name: string;
  onTitle: (s: ISchedule) => void;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const tick = useLiveTick(ref);
  const [reloads, setReloads] = React.useState(0);
  const [schedule, setSchedule] = React.useState<ISchedule | null>(null);
  const [history, setHistory] = React.useState<IOccurrence[]>([]);
  const [error, setError] = React.useState<string | null>(null);
  const [message, setMessage] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  React.useEffect(() => {
    requestAPI<{ schedule: ISchedule; history: IOccurrence[] }>(
      scheduleEndpoint(props.name),
      {},
      { limit: 100 }
    )
      .then(d => {
        setSchedule(d.schedule);
        setHistory(d.history);
        setError(null);
        props.onTitle(d.schedule);
      })
      .catch(e => setError(e.message));
  }, [props.name, tick, reloads]);

  const act = async (action: 'pause' | 'resume' | 'run-now') => {
    setBusy(true);
    try {
      const done = await postAPI<{ schedule: ISchedule; occurrence?: number }>(
        scheduleEndpoint(props.name, action),
        {}
      );
      setSchedule(done.schedule);
      setMessage(
        action === 'run-now'
          ? `queued occurrence ${done.occurrence}; a running scheduler starts it (jupyter mlops scheduler)`
          : action === 'pause'
            ? 'paused: nothing fires until it is resumed'
            : `resumed; next ${nextLabel(done.schedule)}`
      );
      setReloads(r => r + 1);
    } catch (e: any) {
      setMessage(`${action} refused: ${e.message}`);
    } finally {
      setBusy(false);
    }
  };

  const s = schedule;
  return (
    <div
      ref={ref}
      className="jp-mlops-view jp-mlops-schedule-view"
      data-schedule={props.name}
      data-paused={s ? String(s.paused) : undefined}
    >
      <ErrorLine error={error} />
      {!s && !error && <Loading />}
      {s && (
        <>
          <div className="jp-mlops-toolbar jp-mlops-view-header">
            <h2 className="jp-mlops-title">{s.name}</h2>
            <span className="jp-mlops-badge">{s.kind}</span>
            {s.paused && (
              <span className="jp-mlops-badge jp-mlops-paused">paused</span>
            )}
            <span className="jp-mlops-muted">
              {s.description} ({s.cron}, {s.timezone})
            </span>
            <span className="jp-mlops-spacer" />
            {s.paused ? (
              <button
                className="jp-mlops-button jp-mlops-resume"
                disabled={busy}
                onClick={() => void act('resume')}
              >
                Resume
              </button>
            ) : (
              <button
                className="jp-mlops-button jp-mlops-pause"
                disabled={busy}
                onClick={() => void act('pause')}
              >
                Pause
              </button>
            )}
            <button
              className="jp-mlops-button jp-mlops-run-now"
              disabled={busy}
              onClick={() => void act('run-now')}
            >
              Run now
            </button>
          </div>
          {message && <div className="jp-mlops-message">{message}</div>}
          <KeyValues
            className="jp-mlops-schedule-detail"
            rows={[
              ['runs', targetLabel(s)],
              ['next', nextLabel(s)],
              [
                'parameters',
                Object.entries(s.parameters)
                  .map(([k, v]) => `${k}=${String(v)}`)
                  .join(', ') || '–'
              ],
              [
                'policies',
                `overlap ${s.overlap}, catch-up ${s.catchup}, ${s.retries} retries` +
                  (s.timeout ? `, timeout ${s.timeout} s` : '')
              ],
              ['created', `${s.created_by}, ${when(s.created_at)}`]
            ]}
          />
          <h3>History</h3>
          <History history={history} />
        </>
      )}
    </div>
  );
}

export class ScheduleView extends ReactWidget {
  constructor(
    private readonly services: IServices,
    readonly name: string,
    private readonly onTitle: (s: ISchedule) => void
  ) {
    super();
    this.addClass('jp-mlops-main');
  }

  get args(): { name: string } {
    return { name: this.name };
  }

  render(): JSX.Element {
    return (
      <ServicesContext.Provider value={this.services}>
        <SchedulePage name={this.name} onTitle={this.onTitle} />
      </ServicesContext.Provider>
    );
  }
}

/**
 * Models panel: registered models → versions with aliases, approval record, metrics, model card
 * and verify status; approve / reject runs and move aliases.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import {
  ApiError,
  IApproval,
  IModel,
  IModelVersion,
  IVerifyResult,
  fmt,
  postAPI,
  requestAPI,
  short,
  when
} from '../api';
import { RefreshBar, SelectableRow } from '../components';
import { IPanelSettings } from './common';

interface ICandidate {
  run_id: string;
  name: string | null;
  experiment: string;
  start_time: number;
  metrics: Record<string, number | null>;
}

function ApprovalBadge(props: { approval: IApproval | null }): JSX.Element {
  const a = props.approval;
  if (!a) {
    return <span className="jp-mlops-badge jp-mlops-pending">not reviewed</span>;
  }
  return (
    <span
      className={`jp-mlops-badge jp-mlops-${a.decision}`}
      title={`${a.decision} by ${a.actor} on ${when(a.created_at)}: ${a.reason}`}
    >
      {a.decision}
    </span>
  );
}

/** Ask before rejecting a run whose model is in production (the server names where it serves). */
async function confirmRejectLive(message: string): Promise<boolean> {
  const result = await showDialog({
    title: 'Reject a model that is in production?',
    body: message,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Reject anyway' })]
  });
  return result.button.accept;
}

/** Reason box with Approve / Reject buttons for one run. */
function Decide(props: { runId: string; onDone: (a: IApproval) => void }): JSX.Element {
  const [reason, setReason] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const decide = async (decision: 'approve' | 'reject', force = false) => {
    try {
      const record = await postAPI<IApproval>(`runs/${props.runId}/approval`, {
        decision,
        reason: reason || `${decision}d from the JupyterLab Models panel`,
        ...(force ? { force: true } : {})
      });
      setError(null);
      props.onDone(record);
    } catch (e: any) {
      // The server refuses to reject a run in production unless confirmed: nothing has changed yet.
      if (e instanceof ApiError && e.status === 409 && e.data.needs === 'force' && !force) {
        if (await confirmRejectLive(e.message)) {
          await decide(decision, true);
        } else {
          setError('not rejected: the run stays approved');
        }
        return;
      }
      setError(e.message);
    }
  };
  return (
    <div className="jp-mlops-decide" data-run={props.runId}>
      <input
        className="jp-mlops-reason"
        placeholder="reason"
        value={reason}
        onChange={e => setReason(e.target.value)}
      />
      <button className="jp-mlops-button jp-mlops-approve" onClick={() => decide('approve')}>
        Approve
      </button>
      <button className="jp-mlops-button jp-mlops-reject" onClick={() => decide('reject')}>
        Reject
      </button>
      {error && <div className="jp-mlops-error">{error}</div>}
    </div>
  );
}

function VersionDetail(props: {
  version: IModelVersion;
  onChanged: () => void;
}): JSX.Element {
  const v = props.version;
  const [detail, setDetail] = React.useState<IModelVersion | null>(null);
  const [verify, setVerify] = React.useState<IVerifyResult | null>(null);
  const [alias, setAlias] = React.useState('');
  const [message, setMessage] = React.useState<string | null>(null);

  React.useEffect(() => {
    setVerify(null);
    requestAPI<IModelVersion>(`models/${encodeURIComponent(v.name)}/versions/${v.version}`)
      .then(setDetail)
      .catch(e => setMessage(e.message));
  }, [v.name, v.version, v.aliases.join(','), v.approval?.created_at]);

  const runVerify = () =>
    requestAPI<IVerifyResult>(`models/${encodeURIComponent(v.name)}/versions/${v.version}/verify`)
      .then(setVerify)
      .catch(e => setVerify({ ok: false, problems: [e.message], digest: null }));

  const setAliasClick = async () => {
    try {
      await postAPI(`models/${encodeURIComponent(v.name)}/aliases`, { alias, version: v.version });
      setMessage(`${v.name}@${alias} → version ${v.version}`);
      setAlias('');
      props.onChanged();
    } catch (e: any) {
      setMessage(e.message);
    }
  };

  const d = detail ?? v;
  return (
    <div className="jp-mlops-version-detail" data-version={v.version}>
      <h4>
        {v.name} v{v.version} {v.aliases.map(a => <span key={a} className="jp-mlops-alias">@{a}</span>)}
      </h4>
      <div>
        run {short(d.run_id)} · by {d.created_by} · {when(d.created_at)}
      </div>
      <div>
        approval: <ApprovalBadge approval={d.approval} />
        {d.approval && (
          <span className="jp-mlops-approval-record">
            {' '}
            {d.approval.actor}: “{d.approval.reason}” ({when(d.approval.created_at)})
          </span>
        )}
      </div>
      <Decide runId={d.run_id} onDone={() => props.onChanged()} />
      <table className="jp-mlops-table">
        <tbody>
          {Object.entries(d.metrics ?? {}).map(([k, val]) => (
            <tr key={k}>
              <td>{k}</td>
              <td className="jp-mlops-num">{fmt(val)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="jp-mlops-toolbar">
        <input
          className="jp-mlops-alias-input"
          placeholder="alias, e.g. production"
          value={alias}
          onChange={e => setAlias(e.target.value)}
        />
        <button className="jp-mlops-button jp-mlops-set-alias" disabled={!alias} onClick={setAliasClick}>
          Set alias
        </button>
        <button className="jp-mlops-button jp-mlops-verify" onClick={runVerify}>
          Verify
        </button>
      </div>
      {verify && (
        <div className={verify.ok ? 'jp-mlops-ok' : 'jp-mlops-error'} data-verify={verify.ok ? 'ok' : 'failed'}>
          {verify.ok ? `verified: digest ${verify.digest?.slice(0, 12)}` : `verification failed: ${verify.problems.join('; ')}`}
        </div>
      )}
      {message && <div className="jp-mlops-message">{message}</div>}
      {detail?.card && (
        <details open>
          <summary>model card</summary>
          <pre className="jp-mlops-card">{detail.card}</pre>
        </details>
      )}
    </div>
  );
}

export function ModelsPanel(props: { settings: IPanelSettings }): JSX.Element {
  const [models, setModels] = React.useState<IModel[]>([]);
  const [chosen, setChosen] = React.useState<string | null>(null);
  const [versions, setVersions] = React.useState<IModelVersion[]>([]);
  const [version, setVersion] = React.useState<number | null>(null);
  const [candidates, setCandidates] = React.useState<ICandidate[]>([]);
  const [error, setError] = React.useState<string | null>(null);
  const [tick, setTick] = React.useState(0);
  const refresh = () => setTick(t => t + 1);

  React.useEffect(() => {
    requestAPI<{ models: IModel[] }>('models')
      .then(r => {
        setModels(r.models);
        setChosen(c => c ?? r.models[0]?.name ?? null);
        setError(null);
      })
      .catch(e => setError(e.message));
    requestAPI<{ runs: ICandidate[] }>('approvals/pending')
      .then(r => setCandidates(r.runs))
      .catch(() => undefined);
  }, [tick]);

  React.useEffect(() => {
    if (!chosen) {
      return;
    }
    requestAPI<{ versions: IModelVersion[] }>(`models/${encodeURIComponent(chosen)}`)
      .then(r => {
        setVersions(r.versions);
        setVersion(v => (v !== null && r.versions.some(x => x.version === v) ? v : r.versions[r.versions.length - 1]?.version ?? null));
      })
      .catch(e => setError(e.message));
  }, [chosen, tick]);

  const current = versions.find(v => v.version === version);
  return (
    <div className="jp-mlops-panel jp-mlops-models">
      <RefreshBar onRefresh={refresh} error={error} />
      <h3>Models</h3>
      {models.length === 0 && <div className="jp-mlops-empty">No registered models yet.</div>}
      <table className="jp-mlops-table jp-mlops-model-list">
        <tbody>
          {models.map(m => (
            <SelectableRow
              key={m.name}
              attrs={{ 'data-model': m.name }}
              selected={m.name === chosen}
              onSelect={() => setChosen(m.name)}
            >
              <td>{m.name}</td>
              <td>v{m.latest_version}</td>
              <td>
                {Object.entries(m.aliases).map(([a, v]) => (
                  <span key={a} className="jp-mlops-alias">
                    @{a}→{v}
                  </span>
                ))}
              </td>
            </SelectableRow>
          ))}
        </tbody>
      </table>
      {chosen && (
        <table className="jp-mlops-table jp-mlops-version-list">
          <thead>
            <tr>
              <th>version</th>
              <th>aliases</th>
              <th>approval</th>
              <th>run</th>
            </tr>
          </thead>
          <tbody>
            {versions.map(v => (
              <SelectableRow
                key={v.version}
                attrs={{ 'data-version': v.version }}
                selected={v.version === version}
                onSelect={() => setVersion(v.version)}
              >
                <td>v{v.version}</td>
                <td>{v.aliases.map(a => `@${a}`).join(' ')}</td>
                <td>
                  <ApprovalBadge approval={v.approval} />
                </td>
                <td>{short(v.run_id)}</td>
              </SelectableRow>
            ))}
          </tbody>
        </table>
      )}
      {current && <VersionDetail version={current} onChanged={refresh} />}
      <h3>Awaiting approval</h3>
      {candidates.length === 0 && <div className="jp-mlops-empty">No runs with a model wait for a decision.</div>}
      {candidates.map(c => (
        <div key={c.run_id} className="jp-mlops-candidate" data-run={c.run_id}>
          <div>
            <b>{c.name ?? short(c.run_id)}</b> ({c.experiment}) · {when(c.start_time)} ·{' '}
            {Object.entries(c.metrics)
              .map(([k, v]) => `${k}=${fmt(v)}`)
              .join(' ')}
          </div>
          <Decide runId={c.run_id} onDone={refresh} />
        </div>
      ))}
    </div>
  );
}

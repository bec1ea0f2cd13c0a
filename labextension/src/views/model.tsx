/**
 * Model view (main area): a registered model's versions with their aliases, approval (who,
 * when, why), metrics and ONNX status; the chosen version's model card rendered (sanitized),
 * Set alias (asks before moving ``production``), approve / reject (asks before rejecting a
 * version in production), verify, and the model's audit log.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  IAuditEntry,
  IModel,
  IModelVersion,
  IVerifyResult,
  fmt,
  postAPI,
  requestAPI,
  short,
  when
} from '../api';
import { ApprovalBadge, Decide } from '../components/approval';
import {
  AliasChip,
  ErrorLine,
  KeyValues,
  Link,
  Loading
} from '../components/common';
import { Markdown } from '../components/markdown';
import {
  IServices,
  ServicesContext,
  useLiveTick,
  useServices
} from '../components/services';

export const GUARDED_ALIAS = 'production';

function onnxStatus(version: IModelVersion): string {
  return version.tags?.['mlops.onnx'] ?? '–';
}

/** Ask before pointing ``production`` at another version. */
async function confirmMove(
  name: string,
  alias: string,
  from: number | undefined,
  to: number
): Promise<boolean> {
  const result = await showDialog({
    title: `Move ${name}@${alias}?`,
    body:
      from !== undefined
        ? `${name}@${alias} serves version ${from}. Point it at version ${to} instead?`
        : `Point ${name}@${alias} at version ${to}? Whatever loads ${name}@${alias} will use it.`,
    buttons: [
      Dialog.cancelButton(),
      Dialog.warnButton({ label: `Move ${alias}` })
    ]
  });
  return result.button.accept;
}

function VersionDetail(props: {
  name: string;
  version: IModelVersion;
  versions: IModelVersion[];
  aliases: Record<string, number>;
  onChanged: () => void;
}): JSX.Element {
  const { open } = useServices();
  const v = props.version;
  const [detail, setDetail] = React.useState<IModelVersion | null>(null);
  const [verify, setVerify] = React.useState<IVerifyResult | null>(null);
  const [alias, setAlias] = React.useState('');
  const [message, setMessage] = React.useState<string | null>(null);
  const [other, setOther] = React.useState('');
  const base = `models/${encodeURIComponent(props.name)}/versions/${v.version}`;

  React.useEffect(() => {
    setVerify(null);
    requestAPI<IModelVersion>(base)
      .then(setDetail)
      .catch(e => setMessage(e.message));
  }, [base, v.aliases.join(','), v.approval?.created_at]);

  const runVerify = () =>
    requestAPI<IVerifyResult>(`${base}/verify`)
      .then(setVerify)
      .catch(e =>
        setVerify({ ok: false, problems: [e.message], digest: null })
      );

  const setAliasClick = async () => {
    const wanted = alias.trim();
    const current = props.aliases[wanted.toLowerCase()];
    if (wanted.toLowerCase() === GUARDED_ALIAS && current !== v.version) {
      if (!(await confirmMove(props.name, wanted, current, v.version))) {
        setMessage(`${props.name}@${wanted} not moved`);
        return;
      }
    }
    try {
      await postAPI(`models/${encodeURIComponent(props.name)}/aliases`, {
        alias: wanted,
        version: v.version
      });
      setMessage(`${props.name}@${wanted} → version ${v.version}`);
      setAlias('');
      props.onChanged();
    } catch (e: any) {
      setMessage(e.message);
    }
  };

  const d = detail ?? v;
  return (
    <div className="jp-mlops-version-detail" data-version={v.version}>
      <h3>
        {props.name} v{v.version}{' '}
        {v.aliases.map(a => (
          <AliasChip key={a} alias={a} />
        ))}
      </h3>
      <KeyValues
        rows={[
          [
            'run',
            <Link key="r" onClick={() => open.run(d.run_id)}>
              {short(d.run_id)}
            </Link>
          ],
          ['exported by', `${d.created_by} on ${when(d.created_at)}`],
          ['format', d.model_format ?? '–'],
          ['ONNX', onnxStatus(d)],
          ['digest', <code key="dg">{d.manifest_digest.slice(0, 16)}</code>],
          [
            'approval',
            <span key="a">
              <ApprovalBadge approval={d.approval} />
              {d.approval && (
                <span className="jp-mlops-approval-record">
                  {' '}
                  by {d.approval.actor} on {when(d.approval.created_at)}: “
                  {d.approval.reason}”
                </span>
              )}
            </span>
          ]
        ]}
      />
      <Decide runId={d.run_id} onDone={() => props.onChanged()} />
      <div className="jp-mlops-toolbar">
        <input
          className="jp-mlops-alias-input"
          placeholder="alias, e.g. production"
          value={alias}
          onChange={e => setAlias(e.target.value)}
        />
        <button
          className="jp-mlops-button jp-mlops-set-alias"
          disabled={!alias.trim()}
          onClick={() => void setAliasClick()}
        >
          Set alias
        </button>
        <button
          className="jp-mlops-button jp-mlops-verify"
          onClick={() => void runVerify()}
        >
          Verify
        </button>
        <button
          className="jp-mlops-button jp-mlops-open-lineage"
          onClick={() => open.lineage(`model:${props.name}/${v.version}`)}
        >
          Lineage
        </button>
        <select
          aria-label="compare with version"
          value={other}
          onChange={e => setOther(e.target.value)}
        >
          <option value="">compare with…</option>
          {props.versions
            .filter(x => x.version !== v.version)
            .map(x => (
              <option key={x.version} value={x.run_id}>
                v{x.version}
              </option>
            ))}
        </select>
        <button
          className="jp-mlops-button"
          disabled={!other}
          onClick={() => open.compare([d.run_id, other])}
        >
          Compare runs
        </button>
      </div>
      {verify && (
        <div
          className={verify.ok ? 'jp-mlops-ok' : 'jp-mlops-error'}
          data-verify={verify.ok ? 'ok' : 'failed'}
        >
          {verify.ok
            ? `verified: digest ${verify.digest?.slice(0, 12)}`
            : `verification failed: ${verify.problems.join('; ')}`}
        </div>
      )}
      {message && <div className="jp-mlops-message">{message}</div>}
      <h4>Metrics at export</h4>
      <KeyValues
        rows={Object.entries(d.metrics ?? {}).map(([k, val]) => [k, fmt(val)])}
      />
      <h4>Model card</h4>
      {detail?.card ? (
        <Markdown source={detail.card} className="jp-mlops-card" />
      ) : (
        <div className="jp-mlops-empty">
          {detail ? 'This version has no model card.' : 'loading…'}
        </div>
      )}
    </div>
  );
}

function AuditLog(props: { entries: IAuditEntry[] }): JSX.Element {
  return (
    <table className="jp-mlops-table jp-mlops-audit">
      <thead>
        <tr>
          <th>when</th>
          <th>who</th>
          <th>what</th>
          <th>subject</th>
          <th>details</th>
        </tr>
      </thead>
      <tbody>
        {props.entries.map(e => (
          <tr key={e.id} data-action={e.action}>
            <td>{when(e.created_at)}</td>
            <td>{e.actor}</td>
            <td>{e.action}</td>
            <td>{e.subject}</td>
            <td>
              <code>
                {typeof e.details === 'string'
                  ? e.details
                  : JSON.stringify(e.details)}
              </code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ModelPage(props: { name: string; version?: number }): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const tick = useLiveTick(ref);
  const [versions, setVersions] = React.useState<IModelVersion[] | null>(null);
  const [aliases, setAliases] = React.useState<Record<string, number>>({});
  const [audit, setAudit] = React.useState<IAuditEntry[]>([]);
  const [chosen, setChosen] = React.useState<number | null>(
    props.version ?? null
  );
  const [error, setError] = React.useState<string | null>(null);
  const [reloads, setReloads] = React.useState(0);
  const reload = () => setReloads(r => r + 1);
  React.useEffect(() => {
    const name = encodeURIComponent(props.name);
    Promise.all([
      requestAPI<{ versions: IModelVersion[] }>(`models/${name}`),
      requestAPI<{ models: IModel[] }>('models'),
      requestAPI<{ entries: IAuditEntry[] }>(
        'audit',
        {},
        { subject: props.name, limit: 200 }
      )
    ])
      .then(([v, m, a]) => {
        setVersions(v.versions);
        setAliases(m.models.find(x => x.name === props.name)?.aliases ?? {});
        setAudit(a.entries);
        setError(null);
        setChosen(c =>
          c !== null && v.versions.some(x => x.version === c)
            ? c
            : (v.versions[v.versions.length - 1]?.version ?? null)
        );
      })
      .catch(e => setError(e.message));
  }, [props.name, reloads, tick]);
  const current = versions?.find(v => v.version === chosen);
  return (
    <div
      ref={ref}
      className="jp-mlops-view jp-mlops-model-view"
      data-model={props.name}
    >
      <div className="jp-mlops-toolbar jp-mlops-view-header">
        <h2 className="jp-mlops-title">{props.name}</h2>
        {Object.entries(aliases).map(([a, v]) => (
          <AliasChip key={a} alias={a} version={v} />
        ))}
      </div>
      <ErrorLine error={error} />
      {!versions && !error && <Loading />}
      {versions && (
        <table className="jp-mlops-table jp-mlops-versions">
          <thead>
            <tr>
              <th>version</th>
              <th>aliases</th>
              <th>approval</th>
              <th>who / when / why</th>
              <th>metrics</th>
              <th>ONNX</th>
              <th>exported</th>
              <th>run</th>
            </tr>
          </thead>
          <tbody>
            {versions.map(v => (
              <tr
                key={v.version}
                data-version={v.version}
                className={v.version === chosen ? 'jp-mlops-selected' : ''}
                onClick={() => setChosen(v.version)}
              >
                <td>v{v.version}</td>
                <td>
                  {v.aliases.map(a => (
                    <AliasChip key={a} alias={a} />
                  ))}
                </td>
                <td>
                  <ApprovalBadge approval={v.approval} />
                </td>
                <td>
                  {v.approval
                    ? `${v.approval.actor}, ${when(v.approval.created_at)}: ${v.approval.reason}`
                    : '–'}
                </td>
                <td>
                  {Object.entries(v.metrics ?? {})
                    .map(([k, x]) => `${k}=${fmt(x)}`)
                    .join(' ')}
                </td>
                <td>{onnxStatus(v)}</td>
                <td>
                  {v.created_by}, {when(v.created_at)}
                </td>
                <td>{short(v.run_id)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {versions && current && (
        <VersionDetail
          name={props.name}
          version={current}
          versions={versions}
          aliases={aliases}
          onChanged={reload}
        />
      )}
      <h3>Audit log</h3>
      <AuditLog entries={audit} />
    </div>
  );
}

export class ModelView extends ReactWidget {
  constructor(
    private readonly services: IServices,
    readonly name: string,
    readonly version?: number
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
        <ModelPage name={this.name} version={this.version} />
      </ServicesContext.Provider>
    );
  }
}

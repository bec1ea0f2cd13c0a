/**
 * Approve or reject a run's model, as the signed-in user. Rejecting a run whose version serves
 * in production is refused by the server until confirmed: this asks first, naming where it serves.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { ApiError, IApproval, postAPI, when } from '../api';

export function ApprovalBadge(props: {
  approval: IApproval | null;
}): JSX.Element {
  const a = props.approval;
  if (!a) {
    return (
      <span className="jp-mlops-badge jp-mlops-pending">not reviewed</span>
    );
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

async function confirmRejectLive(message: string): Promise<boolean> {
  const result = await showDialog({
    title: 'Reject a model that is in production?',
    body: message,
    buttons: [
      Dialog.cancelButton(),
      Dialog.warnButton({ label: 'Reject anyway' })
    ]
  });
  return result.button.accept;
}

/** Reason box with Approve / Reject buttons for one run. */
export function Decide(props: {
  runId: string;
  onDone: (a: IApproval) => void;
}): JSX.Element {
  const [reason, setReason] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const decide = async (
    decision: 'approve' | 'reject',
    force = false
  ): Promise<void> => {
    try {
      const record = await postAPI<IApproval>(`runs/${props.runId}/approval`, {
        decision,
        reason: reason || `${decision}d in JupyterLab`,
        ...(force ? { force: true } : {})
      });
      setError(null);
      props.onDone(record);
    } catch (e: any) {
      // The server refuses to reject a run in production unless confirmed: nothing has changed yet.
      if (
        e instanceof ApiError &&
        e.status === 409 &&
        e.data.needs === 'force' &&
        !force
      ) {
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
      <button
        className="jp-mlops-button jp-mlops-approve"
        onClick={() => void decide('approve')}
      >
        Approve
      </button>
      <button
        className="jp-mlops-button jp-mlops-reject"
        onClick={() => void decide('reject')}
      >
        Reject
      </button>
      {error && <div className="jp-mlops-error">{error}</div>}
    </div>
  );
}

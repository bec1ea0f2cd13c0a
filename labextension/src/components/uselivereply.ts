/**
 * One GET reply that a live view asks again on every tick. A reply to the same arguments that
 * came back with the same content keeps the old object, so a chart fed from it is not given its
 * data again (that would drop a brush being dragged or the tip under the mouse); a reply to new
 * arguments is taken as it comes, without comparing what is bound to differ.
 */
import * as React from 'react';

import { Query, requestAPI } from '../api';
import { unlessSame } from './services';

interface IKept<T> {
  args: string;
  reply: T | null;
}

/** The reply of ``path`` to ``args`` (none asked while ``args`` is null), asked again as ``tick`` moves. */
export function useLiveReply<T>(
  path: string,
  args: Query | null,
  tick: number
): { reply: T | null; error: string | null } {
  const argsKey = args === null ? '' : JSON.stringify(args);
  const [kept, setKept] = React.useState<IKept<T>>({ args: '', reply: null });
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    if (args === null) {
      setKept({ args: '', reply: null });
      return;
    }
    let cancelled = false;
    requestAPI<T>(path, {}, args)
      .then(fresh => {
        if (cancelled) {
          return;
        }
        setKept(k => ({
          args: argsKey,
          reply: k.args === argsKey ? unlessSame(k.reply, fresh) : fresh
        }));
        setError(null);
      })
      .catch(e => !cancelled && setError(e.message));
    return () => {
      cancelled = true;
    };
  }, [path, argsKey, tick]);
  return { reply: kept.reply, error };
}

/**
 * Several metrics' series of the same runs, asked in one request (the server reads them in one
 * pass: five requests of one metric each cost five selections of the runs and queued behind one
 * another). Replies are kept per metric: a metric ticked later is fetched alone, all of them again
 * when the runs or the live tick change, and the old lines stay drawn until the new ones arrive,
 * so a live refresh never blanks a chart (nor redraws one whose series came back the same).
 */
import * as React from 'react';

import { ISeriesReply, Query, requestAPI } from '../api';
import { unlessSame } from './services';

/** At most this many metrics per request (chart_series.MAX_SERIES_KEYS). */
const MAX_KEYS = 100;

interface IKept {
  args: string;
  tick: number;
  replies: Record<string, ISeriesReply>;
}

export function useSeries(
  keys: string[],
  args: Query,
  tick: number
): {
  replies: Record<string, ISeriesReply>;
  error: string | null;
  /** The arguments and tick the replies answer (a page can wait on it changing). */
  answered: string;
} {
  const argsKey = JSON.stringify(args);
  const [kept, setKept] = React.useState<IKept>({
    args: '',
    tick: 0,
    replies: {}
  });
  const [error, setError] = React.useState<string | null>(null);
  const latest = React.useRef(kept);
  latest.current = kept;
  React.useEffect(() => {
    const current = latest.current;
    const have =
      current.args === argsKey && current.tick === tick ? current.replies : {};
    const missing = keys.filter(key => !(key in have));
    if (missing.length === 0) {
      return;
    }
    let cancelled = false;
    const parts: string[][] = [];
    for (let i = 0; i < missing.length; i += MAX_KEYS) {
      parts.push(missing.slice(i, i + MAX_KEYS));
    }
    Promise.all(
      parts.map(part =>
        requestAPI<{ series: ISeriesReply[] }>(
          'series',
          {},
          { ...args, keys: JSON.stringify(part) }
        )
      )
    )
      .then(answers => {
        if (cancelled) {
          return;
        }
        const got: Record<string, ISeriesReply> = {};
        answers.forEach(a => a.series.forEach(s => (got[s.key] = s)));
        setKept(k => {
          // Only a refresh of the same arguments can bring the same series back: new arguments
          // (other runs, another sampling) are not compared, a few MB of JSON for nothing.
          const sameArgs = k.args === argsKey;
          const replies = sameArgs && k.tick === tick ? { ...k.replies } : {};
          for (const key of Object.keys(got)) {
            replies[key] = sameArgs
              ? unlessSame(k.replies[key], got[key])
              : got[key];
          }
          return { args: argsKey, tick, replies };
        });
        setError(null);
      })
      .catch(e => !cancelled && setError(e.message));
    return () => {
      cancelled = true;
    };
  }, [argsKey, tick, keys.join('\n')]);
  return {
    replies: kept.replies,
    error,
    answered: `${kept.args}#${kept.tick}`
  };
}

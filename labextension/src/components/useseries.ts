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
  basis: string;
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
  const basis = `${JSON.stringify(args)}#${tick}`;
  const [kept, setKept] = React.useState<IKept>({ basis: '', replies: {} });
  const [error, setError] = React.useState<string | null>(null);
  const latest = React.useRef(kept);
  latest.current = kept;
  React.useEffect(() => {
    const have = latest.current.basis === basis ? latest.current.replies : {};
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
          const replies = k.basis === basis ? { ...k.replies } : {};
          for (const key of Object.keys(got)) {
            replies[key] = unlessSame(k.replies[key], got[key]);
          }
          return { basis, replies };
        });
        setError(null);
      })
      .catch(e => !cancelled && setError(e.message));
    return () => {
      cancelled = true;
    };
  }, [basis, keys.join('\n')]);
  return { replies: kept.replies, error, answered: kept.basis };
}

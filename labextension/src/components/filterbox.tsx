/**
 * The filter box of the runs table: the server's filter language with suggestions of what can
 * come next at the caret (a key of this experiment, an operator, AND / OR), applied as you type
 * (after a short pause). A refused filter shows the server's message with its position; the
 * view keeps the previous rows, greyed, until the filter reads again.
 */
import * as React from 'react';

import { IColumnKeys, filterKey } from '../api';

const ATTRIBUTES = [
  'status',
  'name',
  'experiment',
  'user',
  'start_time',
  'end_time',
  'source',
  'id',
  'parent',
  'git_commit'
];
const OPERATORS = [
  '=',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  'LIKE',
  'ILIKE',
  'IN',
  'NOT IN',
  'IS NULL',
  'IS NOT NULL'
];
const JOINERS = ['AND', 'OR'];
const STATUSES = [
  "'FINISHED'",
  "'RUNNING'",
  "'FAILED'",
  "'CRASHED'",
  "'KILLED'"
];
const MAX_SUGGESTIONS = 12;
const APPLY_AFTER_MS = 450;

/** Tokens before the caret, roughly as the server reads them (enough to know what comes next). */
function tokens(text: string): string[] {
  const found = text.match(
    /'(?:[^'\\]|\\.|'')*'?|"(?:[^"\\]|\\.)*"?|`[^`]*`?|<=|>=|!=|<>|==|[=<>(),]|[^\s=<>!(),'"`]+/g
  );
  return found ?? [];
}

function isIdentifier(token: string): boolean {
  return (
    /^(metrics|params|tags|attributes|metric|param|tag)\.|^`/.test(token) ||
    ATTRIBUTES.includes(token.toLowerCase())
  );
}

function isOperator(token: string): boolean {
  return (
    /^(=|==|!=|<>|<|<=|>|>=)$/.test(token) ||
    ['like', 'ilike', 'in'].includes(token.toLowerCase())
  );
}

/** ``{start, suggestions}``: what may replace the text from ``start`` to the caret. */
export function suggest(
  text: string,
  caret: number,
  keys: IColumnKeys
): { start: number; options: string[] } {
  const before = text.slice(0, caret);
  const partial = /[\w.`"\-:/]*$/.exec(before)?.[0] ?? '';
  const start = caret - partial.length;
  const previous = tokens(before.slice(0, start));
  const last = previous[previous.length - 1] ?? '';
  const lower = partial.toLowerCase();
  const match = (options: string[]) =>
    options
      .filter(o => o.toLowerCase().startsWith(lower) && o !== partial)
      .slice(0, MAX_SUGGESTIONS);
  if (
    previous.length === 0 ||
    ['and', 'or', 'not', '('].includes(last.toLowerCase())
  ) {
    const identifiers = [
      ...keys.metrics.map(k => filterKey('metrics', k)),
      ...keys.params.map(k => filterKey('params', k)),
      ...keys.tags.map(k => filterKey('tags', k)),
      ...ATTRIBUTES
    ];
    const prefixed = match(identifiers);
    // "auc" also finds metrics.auc: the key itself is what one remembers.
    const byKey = lower
      ? identifiers.filter(
          o =>
            !prefixed.includes(o) &&
            o.toLowerCase().split('.').pop()!.startsWith(lower)
        )
      : [];
    return {
      start,
      options: [...prefixed, ...byKey].slice(0, MAX_SUGGESTIONS)
    };
  }
  if (isIdentifier(last) && !isOperator(partial)) {
    return { start, options: match(OPERATORS) };
  }
  if (isOperator(last)) {
    const ident = previous[previous.length - 2] ?? '';
    return {
      start,
      options: ident.toLowerCase() === 'status' ? match(STATUSES) : []
    };
  }
  if (last === ')' || /^['"\d.-]/.test(last) || last.toLowerCase() === 'null') {
    return { start, options: match(JOINERS) };
  }
  return { start, options: [] };
}

export function FilterBox(props: {
  value: string;
  keys: IColumnKeys;
  error: string | null;
  onApply: (filter: string) => void;
}): JSX.Element {
  const [draft, setDraft] = React.useState(props.value);
  const [caret, setCaret] = React.useState(props.value.length);
  const [open, setOpen] = React.useState(false);
  const [active, setActive] = React.useState(0);
  const input = React.useRef<HTMLInputElement>(null);
  const timer = React.useRef(0);
  // What this box last handed to onApply. The view stores a filter trimmed, so its echo of our own
  // apply must not replace the draft: the user may have typed on (or left the space after an
  // accepted suggestion) while the runs reloaded. A filter set from elsewhere (a link, a cleared
  // view) does replace it.
  const sent = React.useRef(props.value);

  React.useEffect(() => {
    if (props.value !== sent.current.trim()) {
      setDraft(props.value);
    }
  }, [props.value]);
  React.useEffect(() => () => window.clearTimeout(timer.current), []);

  const { start, options } = React.useMemo(
    () => suggest(draft, caret, props.keys),
    [draft, caret, props.keys]
  );

  const apply = (text: string, now = false) => {
    window.clearTimeout(timer.current);
    const send = () => {
      sent.current = text;
      props.onApply(text);
    };
    if (now) {
      send();
    } else {
      timer.current = window.setTimeout(send, APPLY_AFTER_MS);
    }
  };

  const change = (text: string, position: number) => {
    setDraft(text);
    setCaret(position);
    setOpen(true);
    setActive(0);
    apply(text);
  };

  const accept = (option: string) => {
    const text =
      draft.slice(0, start) +
      option +
      ' ' +
      draft.slice(caret).replace(/^\S*/, '');
    const position = start + option.length + 1;
    change(text, position);
    requestAnimationFrame(() => {
      const box = input.current;
      // Only if nothing was typed since: a fast typist (or a busy page, where this frame comes
      // late) would otherwise see the caret jump back into what they just typed.
      if (box && box.value === text) {
        box.focus();
        box.setSelectionRange(position, position);
      }
    });
  };

  const onKeyDown = (event: React.KeyboardEvent<HTMLInputElement>) => {
    const listed = open && options.length > 0;
    if (listed && event.key === 'ArrowDown') {
      setActive(a => (a + 1) % options.length);
    } else if (listed && event.key === 'ArrowUp') {
      setActive(a => (a - 1 + options.length) % options.length);
    } else if (listed && (event.key === 'Tab' || event.key === 'Enter')) {
      accept(options[Math.min(active, options.length - 1)]);
    } else if (event.key === 'Enter') {
      apply(draft, true);
      setOpen(false);
    } else if (event.key === 'Escape') {
      setOpen(false);
      return;
    } else {
      return;
    }
    event.preventDefault();
  };

  return (
    <div className="jp-mlops-filterbox">
      <input
        ref={input}
        className={`jp-mlops-filter-input ${props.error ? 'jp-mod-invalid' : ''}`}
        placeholder="filter, e.g. metrics.auc > 0.9 and params.model = 'rf'"
        aria-label="filter runs"
        aria-invalid={!!props.error}
        spellCheck={false}
        value={draft}
        onChange={e =>
          change(
            e.target.value,
            e.target.selectionStart ?? e.target.value.length
          )
        }
        onKeyDown={onKeyDown}
        onKeyUp={e =>
          setCaret(
            (e.target as HTMLInputElement).selectionStart ?? draft.length
          )
        }
        onClick={e => {
          setCaret(
            (e.target as HTMLInputElement).selectionStart ?? draft.length
          );
          setOpen(true);
        }}
        onFocus={() => setOpen(true)}
        onBlur={() => window.setTimeout(() => setOpen(false), 150)}
      />
      {open && options.length > 0 && (
        <ul className="jp-mlops-suggestions" role="listbox">
          {options.map((option, i) => (
            <li
              key={option}
              role="option"
              aria-selected={i === active}
              data-value={option}
              className={i === active ? 'jp-mod-active' : ''}
              onMouseDown={e => {
                e.preventDefault();
                accept(option);
              }}
            >
              {option}
            </li>
          ))}
        </ul>
      )}
      {props.error && (
        <div className="jp-mlops-error jp-mlops-filter-error" role="alert">
          {props.error}
        </div>
      )}
    </div>
  );
}

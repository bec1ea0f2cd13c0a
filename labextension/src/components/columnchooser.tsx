/**
 * The column chooser of the runs table: every attribute, param, metric and tag key of the
 * experiment, grouped, with a search; what is hidden is saved per experiment by the view.
 */
import * as React from 'react';

import { GROUP_TITLES, Group, IColumn } from './runsgrid';

export function ColumnChooser(props: {
  columns: IColumn[];
  hidden: string[];
  onChange: (hidden: string[]) => void;
}): JSX.Element {
  const [open, setOpen] = React.useState(false);
  const [search, setSearch] = React.useState('');
  const hidden = new Set(props.hidden);
  const groups: Group[] = ['run', 'params', 'metrics', 'tags'];
  const set = (ids: string[], show: boolean) => {
    const next = new Set(hidden);
    ids.forEach(id => (show ? next.delete(id) : next.add(id)));
    props.onChange(Array.from(next).sort());
  };
  const shown =
    props.columns.length - props.columns.filter(c => hidden.has(c.id)).length;
  return (
    <div className="jp-mlops-columns">
      <button
        className="jp-mlops-button jp-mlops-columns-button"
        aria-expanded={open}
        onClick={() => setOpen(o => !o)}
        title="choose the columns of the table"
      >
        Columns ({shown}/{props.columns.length})
      </button>
      {open && (
        <div
          className="jp-mlops-columns-popup"
          role="dialog"
          aria-label="columns"
        >
          <input
            className="jp-mlops-columns-search"
            placeholder="find a column"
            value={search}
            onChange={e => setSearch(e.target.value)}
          />
          {groups.map(group => {
            const columns = props.columns.filter(
              c =>
                c.group === group &&
                c.label.toLowerCase().includes(search.toLowerCase())
            );
            if (columns.length === 0) {
              return null;
            }
            return (
              <fieldset
                key={group}
                className="jp-mlops-columns-group"
                data-group={group}
              >
                <legend>
                  {GROUP_TITLES[group]}{' '}
                  <button
                    className="jp-mlops-link"
                    onClick={() =>
                      set(
                        columns.map(c => c.id),
                        true
                      )
                    }
                  >
                    all
                  </button>{' '}
                  <button
                    className="jp-mlops-link"
                    onClick={() =>
                      set(
                        columns.map(c => c.id),
                        false
                      )
                    }
                  >
                    none
                  </button>
                </legend>
                {columns.map(c => (
                  <label
                    key={c.id}
                    className="jp-mlops-check"
                    data-column={c.id}
                  >
                    <input
                      type="checkbox"
                      checked={!hidden.has(c.id)}
                      onChange={e => set([c.id], e.target.checked)}
                    />{' '}
                    {c.label}
                  </label>
                ))}
              </fieldset>
            );
          })}
          <button className="jp-mlops-button" onClick={() => setOpen(false)}>
            Done
          </button>
        </div>
      )}
    </div>
  );
}

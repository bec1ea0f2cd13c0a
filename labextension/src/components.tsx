/**
 * Pieces every panel uses: the refresh bar with the last error, and a clickable, selectable row.
 */
import * as React from 'react';

export function RefreshBar(props: { onRefresh: () => void; error: string | null; children?: React.ReactNode }): JSX.Element {
  return (
    <>
      <div className="jp-mlops-toolbar">
        {props.children}
        <button className="jp-mlops-button" onClick={props.onRefresh} title="refresh">
          ⟳
        </button>
      </div>
      {props.error && <div className="jp-mlops-error">{props.error}</div>}
    </>
  );
}

/** A table row that selects its item when clicked; ``attrs`` are data-* attributes naming the item. */
export function SelectableRow(props: {
  selected: boolean;
  onSelect: () => void;
  attrs: Record<string, string | number>;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <tr {...props.attrs} className={props.selected ? 'jp-mlops-selected' : ''} onClick={props.onSelect}>
      {props.children}
    </tr>
  );
}

/**
 * What every view is given by the plugin: how to open other views, the untrusted rendermime
 * registry, the settings, the theme, and one shared poll of the store's change cursor.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import { requestAPI } from '../api';
import { IOpener } from '../commands';

/** From the plugin's settings (schema/plugin.json). */
export interface ISettings {
  /** Seconds between polls of the change cursor while a view is open. */
  refreshInterval: number;
  /** Runs per request when the runs table loads rows. */
  pageSize: number;
  /** Columns hidden in each experiment's table, by experiment name. */
  hiddenColumns: Record<string, string[]>;
  /** The parameter each experiment's table is grouped by (``params.C``; "" for none). */
  groupBy?: Record<string, string>;
}

export const DEFAULT_SETTINGS: ISettings = {
  refreshInterval: 2,
  pageSize: 200,
  hiddenColumns: {},
  groupBy: {}
};

/** The settings as they are now, and a way to change what views persist there. */
export class SettingsSource {
  private readonly _changed = new Signal<this, ISettings>(this);
  private _current: ISettings = DEFAULT_SETTINGS;
  /** Writes a setting back (set by the plugin when the setting registry is there). */
  save: (key: keyof ISettings, value: unknown) => Promise<void> = async () =>
    undefined;

  get current(): ISettings {
    return this._current;
  }
  get changed(): ISignal<this, ISettings> {
    return this._changed;
  }
  update(settings: ISettings): void {
    this._current = settings;
    this._changed.emit(settings);
  }
}

/** Bumped when JupyterLab's theme changes: canvas drawings read --jp-* colours again. */
export class ThemeWatch {
  private readonly _changed = new Signal<this, number>(this);
  version = 0;
  get changed(): ISignal<this, number> {
    return this._changed;
  }
  bump(): void {
    this.version += 1;
    this._changed.emit(this.version);
  }
}

/** A JupyterLab CSS variable's current value (colours of canvas drawings come from the theme). */
export function cssVar(name: string, fallback = ''): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/** A colour variable resolved to ``rgb(...)`` (canvas drawings cannot read var() or color-mix()). */
export function cssColour(name: string, fallback = '#888'): string {
  const probe = document.createElement('span');
  probe.style.color = `var(${name}, ${fallback})`;
  probe.style.display = 'none';
  document.body.appendChild(probe);
  const colour = getComputedStyle(probe).color;
  probe.remove();
  return colour || fallback;
}

/** The series colours (``--jp-mlops-series-N`` in style/base.css). */
export function palette(): string[] {
  return Array.from({ length: 10 }, (_, i) =>
    cssVar(`--jp-mlops-series-${i}`, '#888')
  );
}

type Listener = (cursor: string, moved: boolean) => void;

/**
 * One poll of ``changes`` for every open view: each tick asks for the cursor once and tells
 * every subscriber whether it moved since the cursor that subscriber last saw. Polls only while
 * someone listens and the page is visible.
 */
export class ChangeFeed {
  /** Each listener with the last cursor it was told of. */
  private readonly listeners = new Map<Listener, string>();
  private timer = 0;
  private cursor = '';

  constructor(private readonly settings: SettingsSource) {}

  /**
   * A view subscribes before it loads what it shows. Its baseline is the last cursor polled, so
   * anything recorded after that poll counts as a move; with no poll yet, the first one counts as
   * a move, since what the view loaded may predate it (a run recorded between the view's load and
   * that first poll would otherwise never appear).
   */
  subscribe(listener: Listener): () => void {
    this.listeners.set(listener, this.cursor);
    if (this.listeners.size === 1) {
      this.schedule();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        window.clearTimeout(this.timer);
        this.timer = 0;
      }
    };
  }

  private schedule(): void {
    window.clearTimeout(this.timer);
    const seconds = Math.max(0.5, this.settings.current.refreshInterval);
    this.timer = window.setTimeout(() => void this.tick(), seconds * 1000);
  }

  private async tick(): Promise<void> {
    if (document.visibilityState === 'visible') {
      try {
        const { cursor } = await requestAPI<{ cursor: string }>('changes');
        this.cursor = cursor;
        for (const [listener, seen] of [...this.listeners]) {
          if (this.listeners.has(listener)) {
            this.listeners.set(listener, cursor);
            listener(cursor, seen !== cursor);
          }
        }
      } catch (reason) {
        console.debug('jupyter-mlops: change poll failed', reason);
      }
    }
    if (this.listeners.size > 0) {
      this.schedule();
    }
  }
}

export interface IServices {
  open: IOpener;
  rendermime: IRenderMimeRegistry;
  settings: SettingsSource;
  theme: ThemeWatch;
  changes: ChangeFeed;
}

export const ServicesContext = React.createContext<IServices | null>(null);

export function useServices(): IServices {
  const services = React.useContext(ServicesContext);
  if (!services) {
    throw new Error('jupyter-mlops: a view was rendered without its services');
  }
  return services;
}

/** Re-render when the theme changes; returns the theme's version (a dependency for effects). */
export function useTheme(): number {
  const { theme } = useServices();
  const [version, setVersion] = React.useState(theme.version);
  React.useEffect(() => {
    const update = (_: ThemeWatch, v: number) => setVersion(v);
    theme.changed.connect(update);
    return () => {
      theme.changed.disconnect(update);
    };
  }, [theme]);
  return version;
}

export function useSettings(): ISettings {
  const { settings } = useServices();
  const [current, setCurrent] = React.useState(settings.current);
  React.useEffect(() => {
    const update = (_: SettingsSource, s: ISettings) => setCurrent(s);
    settings.changed.connect(update);
    return () => {
      settings.changed.disconnect(update);
    };
  }, [settings]);
  return current;
}

/**
 * A number that grows whenever the store changed, while the element of ``ref`` is shown: a
 * dependency that reloads a view live. A hidden view catches up when it is shown again.
 */
export function useLiveTick(ref: React.RefObject<HTMLElement>): number {
  const { changes } = useServices();
  const [tick, setTick] = React.useState(0);
  React.useEffect(() => {
    let dirty = false;
    return changes.subscribe((_, moved) => {
      dirty = dirty || moved;
      const shown = !!ref.current && ref.current.offsetParent !== null;
      if (dirty && shown) {
        dirty = false;
        setTick(t => t + 1);
      }
    });
  }, [changes, ref]);
  return tick;
}

/**
 * ``fresh``, or ``old`` when a reload brought back the same content: a live refresh that changed
 * nothing for a chart then leaves it alone, where a new object would redraw it and drop what the
 * user is doing there (a zoom, a brush being dragged).
 */
export function unlessSame<T>(old: T | null | undefined, fresh: T): T {
  return old !== null &&
    old !== undefined &&
    JSON.stringify(old) === JSON.stringify(fresh)
    ? old
    : fresh;
}

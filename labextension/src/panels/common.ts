/**
 * What the panels share: their settings and the actions that open views in the main area.
 */

/** From the plugin's settings (schema/plugin.json). */
export interface IPanelSettings {
  /** Seconds between refreshes while something is RUNNING. */
  refreshInterval: number;
  /** Runs per page in the Experiments table. */
  pageSize: number;
}

/** Opening things in JupyterLab's main area, provided by the plugin. */
export interface IViewActions {
  compare(runIds: string[]): void;
  diff(a: string, b: string): void;
  openNotebook(runId: string): void;
}

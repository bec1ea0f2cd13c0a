/**
 * Typed calls to the server extension's REST API under /mlops/api/, and the small formatting
 * helpers every view shares.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type Json = Record<string, unknown>;
export type Query = Record<string, string | number | undefined>;

export interface IRunRow {
  run_id: string;
  name: string | null;
  experiment: string;
  status: string;
  start_time: number;
  end_time: number | null;
  parent_id: string | null;
  user: string | null;
  source: string | null;
  params: Record<string, string>;
  metrics: Record<string, number | null>;
  tags: Record<string, string>;
}

export interface IRunsPage {
  runs: IRunRow[];
  total: number;
  page: number;
  page_size: number;
  param_keys: string[];
  metric_keys: string[];
  any_running: boolean;
}

export interface IExperiment {
  id: number;
  name: string;
  created_at: number;
  runs: number;
}

export interface IColumnKeys {
  params: string[];
  metrics: string[];
  tags: string[];
}

export interface IColumnValues {
  run_ids: string[];
  names: (string | null)[];
  columns: Record<string, (string | number | null)[]>;
  truncated: boolean;
}

export interface IArtifact {
  path: string;
  sha256: string;
  size: number;
  media_type: string;
  created_at?: number;
}

export interface IApproval {
  run_id?: string;
  decision: 'approved' | 'rejected';
  actor: string;
  reason: string;
  metrics?: Record<string, number | null>;
  created_at: number;
}

export interface IMetricSummary {
  latest: number | null;
  step: number;
  min: number | null;
  max: number | null;
  points: number;
  first_step: number;
  last_step: number;
}

export interface IDataset {
  name: string;
  fingerprint: string;
  rows: number;
  columns: number;
  schema: Record<string, string>;
}

export interface IRunDetail extends IRunRow {
  artifacts: IArtifact[];
  datasets?: IDataset[];
  notebook: string | null;
  approval: IApproval | null;
  lineage: {
    parent: { run_id: string; name: string } | null;
    children: { run_id: string; name: string; status: string }[];
    source: { path: string | null; sha256: string | null };
    git: { commit: string | null; dirty: boolean | null };
    environment: string | null;
  };
  user_tags: Record<string, string>;
  note: string;
  error: string | null;
  traceback: string | null;
  failed_cell: number | null;
  git_diff: string | null;
  environment: {
    hash: string;
    python_version: string;
    platform: string;
    packages: Record<string, string>;
  } | null;
  metric_summary: Record<string, IMetricSummary>;
  pipeline: { run_id: string; name: string; step: string | null } | null;
  model_versions: { name: string; version: number }[];
}

export type Point = [number, number | null, number];

export interface IMetricSeries {
  run_id: string;
  key: string;
  total: number;
  downsampled: boolean;
  points: Point[];
}

export interface IRunSeries {
  run_id: string;
  name: string | null;
  total: number;
  downsampled: boolean;
  points: Point[];
}

export interface ISeriesReply {
  key: string;
  runs: IRunSeries[];
}

export interface IPreview {
  path: string;
  kind: 'image' | 'table' | 'html' | 'json' | 'notebook' | 'text' | 'binary';
  size: number;
  media_type: string;
  text?: string;
  truncated?: boolean;
  columns?: string[];
  rows?: (string | number | boolean | null)[][];
  total_rows?: number | null;
  more_columns?: number;
}

export interface ICellDiff {
  op: 'equal' | 'changed' | 'added' | 'removed';
  a_index: number | null;
  b_index: number | null;
  cell_type: string;
  source_a: string | null;
  source_b: string | null;
  source_diff: string | null;
  outputs_a: string | null;
  outputs_b: string | null;
  outputs_changed: boolean;
}

export interface INotebookDiff {
  cells: ICellDiff[];
  summary: Record<string, number>;
  a: { run_id: string; path: string };
  b: { run_id: string; path: string };
}

export interface IStep {
  node: string;
  step: string;
  run_id: string;
  status: string;
  start_time: number;
  end_time: number | null;
  upstream: string[];
  attempt: number;
  error: string | null;
  failed_cell: number | null;
  failed_cell_source?: string | null;
  traceback: string | null;
  note: string | null;
  sweep_point: Record<string, unknown> | null;
  cached_from: string | null;
  notebook: string | null;
  best: boolean;
}

export interface IPipelineRun {
  run_id: string;
  name: string;
  status: string;
  experiment?: string;
  start_time: number;
  end_time: number | null;
  spec: string | null;
  dag: Record<string, string[]>;
  params?: Record<string, string>;
  steps: IStep[];
}

export interface IModel {
  name: string;
  latest_version: number;
  aliases: Record<string, number>;
  created_at: number;
}

export interface IModelVersion {
  name: string;
  version: number;
  run_id: string;
  aliases: string[];
  tags?: Record<string, string>;
  metrics: Record<string, number | null>;
  approval: IApproval | null;
  package_uri: string;
  manifest_digest: string;
  model_format?: string;
  signature?: unknown;
  created_by: string;
  created_at: number;
  card?: string | null;
}

export interface IVerifyResult {
  ok: boolean;
  problems: string[];
  digest: string | null;
}

export interface IAuditEntry {
  id: number;
  created_at: number;
  actor: string;
  action: string;
  subject: string;
  details: Json | string;
}

/** An error reply of the API: its status, the server's message, and its JSON (e.g. `needs: 'force'`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly data: Json = {}
  ) {
    super(message);
  }
}

const settings = ServerConnection.makeSettings();

function url(endPoint: string, query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') {
      params.set(key, String(value));
    }
  }
  const qs = params.toString();
  return (
    URLExt.join(settings.baseUrl, 'mlops', 'api', endPoint) +
    (qs ? `?${qs}` : '')
  );
}

let signedOut: (() => void) | null = null;

/**
 * What the web page does when the server stops taking its token mid-session (a 401: the user was
 * removed or the token revoked): back to sign-in. JupyterLab sets none; it handles its own session.
 */
export function onSignedOut(handler: () => void): void {
  signedOut = handler;
}

async function send(
  endPoint: string,
  init: RequestInit,
  query: Query
): Promise<Response> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url(endPoint, query),
      init,
      settings
    );
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (response.status === 401 && signedOut) {
    signedOut();
  }
  return response;
}

async function failure(response: Response): Promise<ApiError> {
  const text = await response.text();
  let data: unknown = text;
  try {
    data = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the message
  }
  const json = data !== null && typeof data === 'object' ? (data as Json) : {};
  const message =
    typeof json.message === 'string' ? json.message : String(data);
  return new ApiError(response.status, message, json);
}

/** Call `mlops/api/<endPoint>` and return the JSON body; non-2xx replies throw an ApiError. */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  query: Query = {}
): Promise<T> {
  const response = await send(endPoint, init, query);
  if (!response.ok) {
    throw await failure(response);
  }
  const text = await response.text();
  return (text.length > 0 ? JSON.parse(text) : null) as T;
}

export function postAPI<T>(endPoint: string, body: Json): Promise<T> {
  return requestAPI<T>(endPoint, {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

/** GET a body as a Blob (artifacts, CSV exports): authenticated like every other call. */
export async function requestBlob(
  endPoint: string,
  query: Query = {}
): Promise<Blob> {
  const response = await send(endPoint, {}, query);
  if (!response.ok) {
    throw await failure(response);
  }
  return response.blob();
}

/** Offer ``blob`` to the user as a file download named ``name``. */
export function saveBlob(blob: Blob, name: string): void {
  const href = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = href;
  link.download = name;
  link.click();
  window.setTimeout(() => URL.revokeObjectURL(href), 0); // after the click has started the download
}

export function artifactEndpoint(runId: string, path: string): string {
  return ['runs', runId, 'artifacts', ...path.split('/')]
    .map(encodeURIComponent)
    .join('/');
}

export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function when(ms: number | null | undefined): string {
  if (!ms) {
    return '–';
  }
  return new Date(ms).toLocaleString();
}

/** "3 min ago", "2 h ago", "5 d ago": how long before ``now``. */
export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) {
    return '–';
  }
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) {
    return `${seconds} s ago`;
  }
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ago`;
  }
  const hours = Math.round(minutes / 60);
  if (hours < 48) {
    return `${hours} h ago`;
  }
  return `${Math.round(hours / 24)} d ago`;
}

/** A duration in milliseconds as "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !isFinite(ms)) {
    return '–';
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  const s = ms / 1000;
  if (s < 60) {
    return `${s.toFixed(1)} s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  }
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** How long a run took, or has been running. */
export function runDuration(run: {
  status: string;
  start_time: number;
  end_time: number | null;
}): number | null {
  if (run.end_time) {
    return run.end_time - run.start_time;
  }
  return run.status === 'RUNNING' ? Date.now() - run.start_time : null;
}

export function short(id: string): string {
  return id.slice(0, 8);
}

export function runLabel(run: { name: string | null; run_id: string }): string {
  return run.name || short(run.run_id);
}

export function fmt(value: unknown): string {
  if (value === null || value === undefined) {
    return '–';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }
  return String(value);
}

export function bytes(size: number): string {
  if (size < 1024) {
    return `${size} B`;
  }
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A key as the filter language reads it: bare when it is a plain word, else in backticks. */
export function filterKey(kind: string, key: string): string {
  if (/^[A-Za-z_][\w\-:/]*$/.test(key)) {
    return `${kind}.${key}`;
  }
  return key.includes('`') ? `${kind}."${key}"` : `${kind}.\`${key}\``;
}

/** A string literal of the filter language: single quotes, a quote inside doubled. */
export function filterString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

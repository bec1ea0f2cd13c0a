/**
 * Typed calls to the server extension's REST API under /mlops/api/.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type Json = Record<string, unknown>;

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

export interface IArtifact {
  path: string;
  sha256: string;
  size: number;
  media_type: string;
}

export interface IApproval {
  run_id: string;
  decision: 'approved' | 'rejected';
  actor: string;
  reason: string;
  metrics: Record<string, number | null>;
  created_at: number;
}

export interface IRunDetail extends IRunRow {
  artifacts: IArtifact[];
  notebook: string | null;
  approval: IApproval | null;
  lineage: {
    parent: { run_id: string; name: string } | null;
    children: { run_id: string; name: string; status: string }[];
    git: { commit: string | null; dirty: boolean | null };
  };
}

export interface IMetricSeries {
  run_id: string;
  key: string;
  total: number;
  downsampled: boolean;
  points: [number, number | null, number][];
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
  upstream: string[];
  attempt: number;
  error: string | null;
  failed_cell: number | null;
  failed_cell_source?: string | null;
  traceback: string | null;
  note: string | null;
  notebook: string | null;
  best: boolean;
}

export interface IPipelineRun {
  run_id: string;
  name: string;
  status: string;
  start_time: number;
  end_time: number | null;
  spec: string | null;
  dag: Record<string, string[]>;
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
  metrics: Record<string, number | null>;
  approval: IApproval | null;
  package_uri: string;
  manifest_digest: string;
  created_by: string;
  created_at: number;
  card?: string | null;
}

export interface IVerifyResult {
  ok: boolean;
  problems: string[];
  digest: string | null;
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

/** Call `mlops/api/<endPoint>` and return the JSON body; non-2xx replies throw an ApiError. */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  query: Record<string, string | number | undefined> = {}
): Promise<T> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') {
      params.set(key, String(value));
    }
  }
  const qs = params.toString();
  const url =
    URLExt.join(settings.baseUrl, 'mlops', 'api', endPoint) +
    (qs ? `?${qs}` : '');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the error message
    }
  }
  if (!response.ok) {
    const json = data !== null && typeof data === 'object' ? (data as Json) : {};
    throw new ApiError(response.status, typeof json.message === 'string' ? json.message : String(data), json);
  }
  return data as T;
}

export function postAPI<T>(endPoint: string, body: Json): Promise<T> {
  return requestAPI<T>(endPoint, {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

export function artifactURL(runId: string, path: string): string {
  return URLExt.join(
    settings.baseUrl,
    'mlops',
    'api',
    'runs',
    runId,
    'artifacts',
    ...path.split('/').map(encodeURIComponent)
  );
}

export function when(ms: number | null | undefined): string {
  if (!ms) {
    return '–';
  }
  const d = new Date(ms);
  return d.toLocaleString();
}

export function short(id: string): string {
  return id.slice(0, 8);
}

export function fmt(value: number | string | null | undefined): string {
  if (value === null || value === undefined) {
    return '–';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }
  return value;
}

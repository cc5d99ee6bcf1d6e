/**
 * TypeScript shapes of the protocol messages this package reads and writes,
 * as `proto.ts` loads them: proto field names, 64-bit integers as numbers,
 * enums as names, and `kind`/`value`/`outcome` naming the oneof member set.
 * See proto/symbatcher/v1/ and docs/protocol.md for what each field means.
 */

export type Codec = "CODEC_UNSPECIFIED" | "CODEC_JSON" | "CODEC_PICKLE";

export type ErrorKind =
  | "ERROR_KIND_UNSPECIFIED"
  | "ERROR_KIND_USER"
  | "ERROR_KIND_ENGINE"
  | "ERROR_KIND_WORKER_LOST"
  | "ERROR_KIND_ENCODING"
  | "ERROR_KIND_CANCELLED"
  | "ERROR_KIND_NO_WORKER"
  | "ERROR_KIND_TIMEOUT";

export interface ItemError {
  kind: ErrorKind;
  type: string;
  message: string;
  traceback: string;
}

export interface Outcome {
  payload?: Buffer;
  error?: ItemError | null;
  local_only?: boolean;
  value?: "payload" | "error";
}

export interface EngineCall {
  call_id: number;
  prompt: string;
  messages_json: string;
  kwargs_json: string;
}

export interface EngineReply {
  call_id: number;
  text?: string;
  error?: ItemError | null;
  metadata_json: string;
  outcome?: "text" | "error";
}

export interface LatencyPercentiles {
  count: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
}

// -- BatchService ---------------------------------------------------------

export interface JobSpec {
  expression: string;
  batch_size: number;
  max_queue_delay_ms?: number;
  kwargs_json?: string;
  codec?: Codec;
  engine?: string;
  window?: number;
  max_attempts?: number;
  worker_wait_ms?: number;
}

export interface Item {
  index: number;
  payload: Buffer;
  local_only?: boolean;
}

export type BatchRequest =
  | { spec: JobSpec }
  | { items: { items: Item[] } }
  | { end: Record<string, never> };

export interface JobAccepted {
  job_id: number;
  window: number;
}

export interface ItemResult {
  index: number;
  outcome: Outcome | null;
}

export interface JobSummary {
  items: number;
  succeeded: number;
  failed: number;
  engine_calls: number;
  engine_batches: number;
  mean_batch_size: number;
  requeued: number;
  wall_seconds: number;
  engine_seconds: number;
  mean_queue_wait_ms: number;
  retries: number;
  rate_limited: number;
  prompt_tokens: number;
  completion_tokens: number;
  failed_engine_calls: number;
  engine_latency: LatencyPercentiles | null;
}

export interface BatchResponse {
  kind?: "accepted" | "results" | "summary";
  accepted?: JobAccepted | null;
  results?: { results: ItemResult[] } | null;
  summary?: JobSummary | null;
}

// -- WorkerService --------------------------------------------------------

export interface RegisterWorker {
  name: string;
  expressions: string[];
  concurrency: number;
  prefetch: number;
}

export interface WorkResult {
  task_id: number;
  outcome: Outcome;
}

export interface WorkerEngineCall {
  task_id: number;
  call: EngineCall;
}

export type WorkerMessage =
  | { register: RegisterWorker }
  | { results: { results: WorkResult[] } }
  | { engine_calls: { calls: WorkerEngineCall[] } }
  | { drain: { unstarted_task_ids: number[] } }
  | { started: { task_ids: number[] } };

export interface JobInfo {
  job_id: number;
  expression: string;
  kwargs_json: string;
  codec: Codec;
  engine_wants_messages: boolean;
}

export interface Assignment {
  task_id: number;
  job_id: number;
  index: number;
  payload: Buffer;
  local_only: boolean;
}

export interface WorkerCommand {
  kind?: "registered" | "job" | "assignments" | "replies" | "cancel" | "job_finished";
  registered?: { worker_id: number } | null;
  job?: JobInfo | null;
  assignments?: { assignments: Assignment[] } | null;
  replies?: { replies: EngineReply[] } | null;
  cancel?: { task_ids: number[] } | null;
  job_finished?: { job_id: number } | null;
}

// -- StatusService --------------------------------------------------------

export interface WorkerStatus {
  worker_id: number;
  name: string;
  expressions: string[];
  concurrency: number;
  running: number;
  draining: boolean;
}

export interface StatusResponse {
  jobs: Array<{ job_id: number; expression: string; engine: string; running: number }>;
  workers: WorkerStatus[];
  uptime_seconds: number;
}

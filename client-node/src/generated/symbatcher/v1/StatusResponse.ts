// Original file: ../proto/symbatcher/v1/status.proto

import type { JobStatus as _symbatcher_v1_JobStatus, JobStatus__Output as _symbatcher_v1_JobStatus__Output } from '../../symbatcher/v1/JobStatus';
import type { WorkerStatus as _symbatcher_v1_WorkerStatus, WorkerStatus__Output as _symbatcher_v1_WorkerStatus__Output } from '../../symbatcher/v1/WorkerStatus';
import type { QueueStatus as _symbatcher_v1_QueueStatus, QueueStatus__Output as _symbatcher_v1_QueueStatus__Output } from '../../symbatcher/v1/QueueStatus';
import type { EngineStatus as _symbatcher_v1_EngineStatus, EngineStatus__Output as _symbatcher_v1_EngineStatus__Output } from '../../symbatcher/v1/EngineStatus';
import type { CacheStatus as _symbatcher_v1_CacheStatus, CacheStatus__Output as _symbatcher_v1_CacheStatus__Output } from '../../symbatcher/v1/CacheStatus';
import type { ProviderBatchStatus as _symbatcher_v1_ProviderBatchStatus, ProviderBatchStatus__Output as _symbatcher_v1_ProviderBatchStatus__Output } from '../../symbatcher/v1/ProviderBatchStatus';

/**
 * A snapshot of the server.
 */
export interface StatusResponse {
  /**
   * Jobs running now.
   */
  'jobs'?: (_symbatcher_v1_JobStatus)[];
  /**
   * Workers connected now.
   */
  'workers'?: (_symbatcher_v1_WorkerStatus)[];
  /**
   * Engine-call queues that hold calls now, one per (engine, model).
   */
  'queues'?: (_symbatcher_v1_QueueStatus)[];
  /**
   * Engines the server knows: built-in, configured and connected.
   */
  'engines'?: (_symbatcher_v1_EngineStatus)[];
  /**
   * Seconds since the server started.
   */
  'uptime_seconds'?: (number | string);
  /**
   * The engine of jobs that name none.
   */
  'default_engine'?: (string);
  /**
   * Where that choice comes from: "builtin" (echo, nothing configured),
   * "config" (the config file's default_engine), "flag" (--default-engine)
   * or "openai-flags" (--openai-base-url).
   */
  'default_engine_source'?: (string);
  /**
   * The call cache.
   */
  'cache'?: (_symbatcher_v1_CacheStatus | null);
  /**
   * Batches submitted to providers' batch APIs by openai-batch engines
   * (the newest 100 per engine, including those recorded before a restart).
   */
  'provider_batches'?: (_symbatcher_v1_ProviderBatchStatus)[];
  /**
   * The engine of the embedding calls of jobs that name none; empty: none.
   */
  'default_embedding_engine'?: (string);
  /**
   * Jobs that ended lately, the newest first, with their final counts: the
   * last --keep-finished-jobs of them, each for --keep-finished-jobs-ms
   * after it ended.
   */
  'finished_jobs'?: (_symbatcher_v1_JobStatus)[];
}

/**
 * A snapshot of the server.
 */
export interface StatusResponse__Output {
  /**
   * Jobs running now.
   */
  'jobs': (_symbatcher_v1_JobStatus__Output)[];
  /**
   * Workers connected now.
   */
  'workers': (_symbatcher_v1_WorkerStatus__Output)[];
  /**
   * Engine-call queues that hold calls now, one per (engine, model).
   */
  'queues': (_symbatcher_v1_QueueStatus__Output)[];
  /**
   * Engines the server knows: built-in, configured and connected.
   */
  'engines': (_symbatcher_v1_EngineStatus__Output)[];
  /**
   * Seconds since the server started.
   */
  'uptime_seconds': (number);
  /**
   * The engine of jobs that name none.
   */
  'default_engine': (string);
  /**
   * Where that choice comes from: "builtin" (echo, nothing configured),
   * "config" (the config file's default_engine), "flag" (--default-engine)
   * or "openai-flags" (--openai-base-url).
   */
  'default_engine_source': (string);
  /**
   * The call cache.
   */
  'cache': (_symbatcher_v1_CacheStatus__Output | null);
  /**
   * Batches submitted to providers' batch APIs by openai-batch engines
   * (the newest 100 per engine, including those recorded before a restart).
   */
  'provider_batches': (_symbatcher_v1_ProviderBatchStatus__Output)[];
  /**
   * The engine of the embedding calls of jobs that name none; empty: none.
   */
  'default_embedding_engine': (string);
  /**
   * Jobs that ended lately, the newest first, with their final counts: the
   * last --keep-finished-jobs of them, each for --keep-finished-jobs-ms
   * after it ended.
   */
  'finished_jobs': (_symbatcher_v1_JobStatus__Output)[];
}

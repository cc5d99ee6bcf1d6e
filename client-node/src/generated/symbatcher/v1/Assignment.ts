// Original file: ../proto/symbatcher/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

/**
 * One run of one item on this worker.
 */
export interface Assignment {
  /**
   * The run's id: results, engine calls, cancels and drains name it. A new id
   * for every run, so results for stale ids are dropped.
   */
  'task_id'?: (number | string | Long);
  /**
   * The item's job (its JobInfo came first).
   */
  'job_id'?: (number | string | Long);
  /**
   * The item's index in its job's dataset.
   */
  'index'?: (number | string | Long);
  /**
   * The item, encoded per the job's codec.
   */
  'payload'?: (Buffer | Uint8Array | string);
  /**
   * True when the item exists only in the client's process: only a worker in
   * that process can run it; others fail it with ERROR_KIND_ENCODING.
   */
  'local_only'?: (boolean);
}

/**
 * One run of one item on this worker.
 */
export interface Assignment__Output {
  /**
   * The run's id: results, engine calls, cancels and drains name it. A new id
   * for every run, so results for stale ids are dropped.
   */
  'task_id': (number);
  /**
   * The item's job (its JobInfo came first).
   */
  'job_id': (number);
  /**
   * The item's index in its job's dataset.
   */
  'index': (number);
  /**
   * The item, encoded per the job's codec.
   */
  'payload': (Buffer);
  /**
   * True when the item exists only in the client's process: only a worker in
   * that process can run it; others fail it with ERROR_KIND_ENCODING.
   */
  'local_only': (boolean);
}

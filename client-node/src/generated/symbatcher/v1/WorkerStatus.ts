// Original file: ../proto/symbatcher/v1/status.proto

import type { Long } from '@grpc/proto-loader';

/**
 * One connected worker.
 */
export interface WorkerStatus {
  /**
   * The worker's id (WorkerRegistered.worker_id).
   */
  'worker_id'?: (number | string | Long);
  /**
   * The name it registered ("worker" if none).
   */
  'name'?: (string);
  /**
   * The expressions it serves.
   */
  'expressions'?: (string)[];
  /**
   * Items it runs at once, as registered.
   */
  'concurrency'?: (number);
  /**
   * Runs assigned to it now (started, or queued in it).
   */
  'running'?: (number);
  /**
   * Sent DrainWorker: gets no new items.
   */
  'draining'?: (boolean);
  /**
   * Runs its slots have started (RunsStarted) and not finished.
   */
  'started'?: (number);
  /**
   * Cancelled runs (job ended, timed out) the worker has not acknowledged
   * yet: they may still occupy a slot, so they count against its slots.
   */
  'cancelling'?: (number);
  /**
   * Items it may hold queued beyond its running slots: the prefetch it
   * registered, capped at the server's --max-prefetch.
   */
  'prefetch'?: (number);
  /**
   * Its engine calls not yet answered.
   */
  'engine_calls'?: (number);
  /**
   * What the server sent it and its stream has not taken yet, in entries
   * (assignments, engine replies, cancelled runs, one per other command). A
   * worker that lets more pile up than its slots and engine calls explain
   * does not read its stream, and is disconnected.
   */
  'buffered'?: (number);
}

/**
 * One connected worker.
 */
export interface WorkerStatus__Output {
  /**
   * The worker's id (WorkerRegistered.worker_id).
   */
  'worker_id': (number);
  /**
   * The name it registered ("worker" if none).
   */
  'name': (string);
  /**
   * The expressions it serves.
   */
  'expressions': (string)[];
  /**
   * Items it runs at once, as registered.
   */
  'concurrency': (number);
  /**
   * Runs assigned to it now (started, or queued in it).
   */
  'running': (number);
  /**
   * Sent DrainWorker: gets no new items.
   */
  'draining': (boolean);
  /**
   * Runs its slots have started (RunsStarted) and not finished.
   */
  'started': (number);
  /**
   * Cancelled runs (job ended, timed out) the worker has not acknowledged
   * yet: they may still occupy a slot, so they count against its slots.
   */
  'cancelling': (number);
  /**
   * Items it may hold queued beyond its running slots: the prefetch it
   * registered, capped at the server's --max-prefetch.
   */
  'prefetch': (number);
  /**
   * Its engine calls not yet answered.
   */
  'engine_calls': (number);
  /**
   * What the server sent it and its stream has not taken yet, in entries
   * (assignments, engine replies, cancelled runs, one per other command). A
   * worker that lets more pile up than its slots and engine calls explain
   * does not read its stream, and is disconnected.
   */
  'buffered': (number);
}

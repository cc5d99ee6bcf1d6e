// Original file: ../proto/symbatcher/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The worker is stopping. The server assigns it nothing more and puts
 * `unstarted_task_ids` (runs assigned to it that it has not started) back at
 * the front of their jobs' queues without counting an attempt; ids it does
 * not own, or runs that have made engine calls, are ignored. Items still
 * running report as usual; the worker closes its stream when they are done.
 * May be sent more than once.
 */
export interface DrainWorker {
  /**
   * Runs assigned to this worker that it has not started; may be empty.
   */
  'unstarted_task_ids'?: (number | string | Long)[];
}

/**
 * The worker is stopping. The server assigns it nothing more and puts
 * `unstarted_task_ids` (runs assigned to it that it has not started) back at
 * the front of their jobs' queues without counting an attempt; ids it does
 * not own, or runs that have made engine calls, are ignored. Items still
 * running report as usual; the worker closes its stream when they are done.
 * May be sent more than once.
 */
export interface DrainWorker__Output {
  /**
   * Runs assigned to this worker that it has not started; may be empty.
   */
  'unstarted_task_ids': (number)[];
}

// Original file: ../proto/symbatcher/v1/worker.proto

import type { Outcome as _symbatcher_v1_Outcome, Outcome__Output as _symbatcher_v1_Outcome__Output } from '../../symbatcher/v1/Outcome';
import type { Long } from '@grpc/proto-loader';

/**
 * The outcome of one run.
 */
export interface WorkResult {
  /**
   * The run (Assignment.task_id). Results of runs the server no longer holds
   * (cancelled or re-queued) are dropped.
   */
  'task_id'?: (number | string | Long);
  /**
   * Its result or error. Missing, the item fails with ERROR_KIND_ENCODING.
   */
  'outcome'?: (_symbatcher_v1_Outcome | null);
}

/**
 * The outcome of one run.
 */
export interface WorkResult__Output {
  /**
   * The run (Assignment.task_id). Results of runs the server no longer holds
   * (cancelled or re-queued) are dropped.
   */
  'task_id': (number);
  /**
   * Its result or error. Missing, the item fails with ERROR_KIND_ENCODING.
   */
  'outcome': (_symbatcher_v1_Outcome__Output | null);
}

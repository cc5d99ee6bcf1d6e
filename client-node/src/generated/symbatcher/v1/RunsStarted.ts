// Original file: ../proto/symbatcher/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Runs this worker's slots have begun (forward() called), so the server knows
 * which assigned runs are running and which are still queued in the worker:
 * item timeouts count from here, Status reports it, and a run that never
 * started is not charged an attempt when its worker disconnects.
 */
export interface RunsStarted {
  /**
   * The runs (Assignment.task_id) started since the last RunsStarted.
   */
  'task_ids'?: (number | string | Long)[];
}

/**
 * Runs this worker's slots have begun (forward() called), so the server knows
 * which assigned runs are running and which are still queued in the worker:
 * item timeouts count from here, Status reports it, and a run that never
 * started is not charged an attempt when its worker disconnects.
 */
export interface RunsStarted__Output {
  /**
   * The runs (Assignment.task_id) started since the last RunsStarted.
   */
  'task_ids': (number)[];
}

// Original file: ../proto/symbatcher/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The server no longer wants these runs (their job ended or was cancelled,
 * or the run timed out). Their engine calls still waiting have been answered
 * with ERROR_KIND_CANCELLED; the worker abandons them at once (a run not yet
 * started is not started). The worker still sends one WorkResult for each
 * (its content is ignored): until then the run counts against the worker's
 * slots, because it may still occupy one.
 */
export interface CancelTasks {
  /**
   * The runs to abandon.
   */
  'task_ids'?: (number | string | Long)[];
}

/**
 * The server no longer wants these runs (their job ended or was cancelled,
 * or the run timed out). Their engine calls still waiting have been answered
 * with ERROR_KIND_CANCELLED; the worker abandons them at once (a run not yet
 * started is not started). The worker still sends one WorkResult for each
 * (its content is ignored): until then the run counts against the worker's
 * slots, because it may still occupy one.
 */
export interface CancelTasks__Output {
  /**
   * The runs to abandon.
   */
  'task_ids': (number)[];
}

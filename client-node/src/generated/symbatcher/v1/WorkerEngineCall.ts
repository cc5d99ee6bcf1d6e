// Original file: ../proto/symbatcher/v1/worker.proto

import type { EngineCall as _symbatcher_v1_EngineCall, EngineCall__Output as _symbatcher_v1_EngineCall__Output } from '../../symbatcher/v1/EngineCall';
import type { Long } from '@grpc/proto-loader';

/**
 * One engine call of a run.
 */
export interface WorkerEngineCall {
  /**
   * The item run that made the call. Calls of runs the server no longer
   * holds are dropped without a reply.
   */
  'task_id'?: (number | string | Long);
  /**
   * The call; call_id is chosen by the worker, unique per connection, and
   * comes back in the EngineReply.
   */
  'call'?: (_symbatcher_v1_EngineCall | null);
}

/**
 * One engine call of a run.
 */
export interface WorkerEngineCall__Output {
  /**
   * The item run that made the call. Calls of runs the server no longer
   * holds are dropped without a reply.
   */
  'task_id': (number);
  /**
   * The call; call_id is chosen by the worker, unique per connection, and
   * comes back in the EngineReply.
   */
  'call': (_symbatcher_v1_EngineCall__Output | null);
}

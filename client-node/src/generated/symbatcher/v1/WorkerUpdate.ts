// Original file: ../proto/symbatcher/v1/worker.proto

import type { WorkerEngineCall as _symbatcher_v1_WorkerEngineCall, WorkerEngineCall__Output as _symbatcher_v1_WorkerEngineCall__Output } from '../../symbatcher/v1/WorkerEngineCall';
import type { WorkResult as _symbatcher_v1_WorkResult, WorkResult__Output as _symbatcher_v1_WorkResult__Output } from '../../symbatcher/v1/WorkResult';
import type { Long } from '@grpc/proto-loader';

/**
 * Started runs, engine calls and results, handled in that order, each as its
 * own RunsStarted, WorkerEngineCallChunk and WorkResultChunk would be. One
 * message instead of three saves a worker a write (and the server a read)
 * per gathering; a worker whose calls and results do not fit in one message
 * sends several, the started runs in the first.
 */
export interface WorkerUpdate {
  /**
   * Runs started since the last RunsStarted or WorkerUpdate.
   */
  'started_task_ids'?: (number | string | Long)[];
  /**
   * Engine calls made by running forward()s.
   */
  'calls'?: (_symbatcher_v1_WorkerEngineCall)[];
  /**
   * Results of finished runs.
   */
  'results'?: (_symbatcher_v1_WorkResult)[];
  /**
   * How many milliseconds before this message was written each run of
   * started_task_ids started, in the same order: a writer that gathers its
   * slots' messages may hold a start for a while. Shorter than
   * started_task_ids (or empty): 0 for the rest. The server counts the run's
   * start (its item timeout, and its silence: see JobInfo.max_queue_delay_ms)
   * from then, but never from before it assigned the run.
   */
  'started_ms_ago'?: (number)[];
}

/**
 * Started runs, engine calls and results, handled in that order, each as its
 * own RunsStarted, WorkerEngineCallChunk and WorkResultChunk would be. One
 * message instead of three saves a worker a write (and the server a read)
 * per gathering; a worker whose calls and results do not fit in one message
 * sends several, the started runs in the first.
 */
export interface WorkerUpdate__Output {
  /**
   * Runs started since the last RunsStarted or WorkerUpdate.
   */
  'started_task_ids': (number)[];
  /**
   * Engine calls made by running forward()s.
   */
  'calls': (_symbatcher_v1_WorkerEngineCall__Output)[];
  /**
   * Results of finished runs.
   */
  'results': (_symbatcher_v1_WorkResult__Output)[];
  /**
   * How many milliseconds before this message was written each run of
   * started_task_ids started, in the same order: a writer that gathers its
   * slots' messages may hold a start for a while. Shorter than
   * started_task_ids (or empty): 0 for the rest. The server counts the run's
   * start (its item timeout, and its silence: see JobInfo.max_queue_delay_ms)
   * from then, but never from before it assigned the run.
   */
  'started_ms_ago': (number)[];
}

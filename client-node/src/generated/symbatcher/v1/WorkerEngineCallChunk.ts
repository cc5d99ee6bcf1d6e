// Original file: ../proto/symbatcher/v1/worker.proto

import type { WorkerEngineCall as _symbatcher_v1_WorkerEngineCall, WorkerEngineCall__Output as _symbatcher_v1_WorkerEngineCall__Output } from '../../symbatcher/v1/WorkerEngineCall';

/**
 * Engine calls sent together; the server batches them with every other
 * worker's calls of the same engine and model.
 */
export interface WorkerEngineCallChunk {
  /**
   * The calls, any number within the 64 MiB message limit.
   */
  'calls'?: (_symbatcher_v1_WorkerEngineCall)[];
}

/**
 * Engine calls sent together; the server batches them with every other
 * worker's calls of the same engine and model.
 */
export interface WorkerEngineCallChunk__Output {
  /**
   * The calls, any number within the 64 MiB message limit.
   */
  'calls': (_symbatcher_v1_WorkerEngineCall__Output)[];
}

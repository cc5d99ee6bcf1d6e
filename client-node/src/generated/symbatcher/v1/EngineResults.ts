// Original file: ../proto/symbatcher/v1/engine.proto

import type { EngineBatchResult as _symbatcher_v1_EngineBatchResult, EngineBatchResult__Output as _symbatcher_v1_EngineBatchResult__Output } from '../../symbatcher/v1/EngineBatchResult';

/**
 * Results of several batches, sent together.
 */
export interface EngineResults {
  /**
   * Each as a `EngineWorkerMessage.result`, in order.
   */
  'results'?: (_symbatcher_v1_EngineBatchResult)[];
}

/**
 * Results of several batches, sent together.
 */
export interface EngineResults__Output {
  /**
   * Each as a `EngineWorkerMessage.result`, in order.
   */
  'results': (_symbatcher_v1_EngineBatchResult__Output)[];
}

// Original file: ../proto/symbatcher/v1/engine.proto

import type { RegisterEngine as _symbatcher_v1_RegisterEngine, RegisterEngine__Output as _symbatcher_v1_RegisterEngine__Output } from '../../symbatcher/v1/RegisterEngine';
import type { EngineBatchResult as _symbatcher_v1_EngineBatchResult, EngineBatchResult__Output as _symbatcher_v1_EngineBatchResult__Output } from '../../symbatcher/v1/EngineBatchResult';
import type { EngineResults as _symbatcher_v1_EngineResults, EngineResults__Output as _symbatcher_v1_EngineResults__Output } from '../../symbatcher/v1/EngineResults';

/**
 * A message from an engine.
 */
export interface EngineWorkerMessage {
  /**
   * Must be first (else INVALID_ARGUMENT, kind "protocol"); a second one is
   * ignored.
   */
  'register'?: (_symbatcher_v1_RegisterEngine | null);
  /**
   * The answer to one batch, or some of its calls' replies sent ahead.
   */
  'result'?: (_symbatcher_v1_EngineBatchResult | null);
  /**
   * Several results in one message: the replies of several batches
   * ready at the same time. Each is handled as a `result` of its own.
   */
  'results'?: (_symbatcher_v1_EngineResults | null);
  /**
   * Which message this is.
   */
  'kind'?: "register"|"result"|"results";
}

/**
 * A message from an engine.
 */
export interface EngineWorkerMessage__Output {
  /**
   * Must be first (else INVALID_ARGUMENT, kind "protocol"); a second one is
   * ignored.
   */
  'register'?: (_symbatcher_v1_RegisterEngine__Output | null);
  /**
   * The answer to one batch, or some of its calls' replies sent ahead.
   */
  'result'?: (_symbatcher_v1_EngineBatchResult__Output | null);
  /**
   * Several results in one message: the replies of several batches
   * ready at the same time. Each is handled as a `result` of its own.
   */
  'results'?: (_symbatcher_v1_EngineResults__Output | null);
  /**
   * Which message this is.
   */
  'kind'?: "register"|"result"|"results";
}

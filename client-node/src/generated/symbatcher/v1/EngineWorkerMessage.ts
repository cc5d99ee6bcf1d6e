// Original file: ../proto/symbatcher/v1/engine.proto

import type { RegisterEngine as _symbatcher_v1_RegisterEngine, RegisterEngine__Output as _symbatcher_v1_RegisterEngine__Output } from '../../symbatcher/v1/RegisterEngine';
import type { EngineBatchResult as _symbatcher_v1_EngineBatchResult, EngineBatchResult__Output as _symbatcher_v1_EngineBatchResult__Output } from '../../symbatcher/v1/EngineBatchResult';

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
   * The answer to one batch.
   */
  'result'?: (_symbatcher_v1_EngineBatchResult | null);
  /**
   * Which message this is.
   */
  'kind'?: "register"|"result";
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
   * The answer to one batch.
   */
  'result'?: (_symbatcher_v1_EngineBatchResult__Output | null);
  /**
   * Which message this is.
   */
  'kind'?: "register"|"result";
}

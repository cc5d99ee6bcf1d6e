// Original file: ../proto/symbatcher/v1/engine.proto

import type { EngineRegistered as _symbatcher_v1_EngineRegistered, EngineRegistered__Output as _symbatcher_v1_EngineRegistered__Output } from '../../symbatcher/v1/EngineRegistered';
import type { EngineBatch as _symbatcher_v1_EngineBatch, EngineBatch__Output as _symbatcher_v1_EngineBatch__Output } from '../../symbatcher/v1/EngineBatch';

/**
 * A message from the server to an engine.
 */
export interface EngineCommand {
  /**
   * First: the engine is registered.
   */
  'registered'?: (_symbatcher_v1_EngineRegistered | null);
  /**
   * A batch to answer.
   */
  'batch'?: (_symbatcher_v1_EngineBatch | null);
  /**
   * Which message this is.
   */
  'kind'?: "registered"|"batch";
}

/**
 * A message from the server to an engine.
 */
export interface EngineCommand__Output {
  /**
   * First: the engine is registered.
   */
  'registered'?: (_symbatcher_v1_EngineRegistered__Output | null);
  /**
   * A batch to answer.
   */
  'batch'?: (_symbatcher_v1_EngineBatch__Output | null);
  /**
   * Which message this is.
   */
  'kind'?: "registered"|"batch";
}

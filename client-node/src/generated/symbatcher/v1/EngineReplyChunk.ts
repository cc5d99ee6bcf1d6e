// Original file: ../proto/symbatcher/v1/worker.proto

import type { EngineReply as _symbatcher_v1_EngineReply, EngineReply__Output as _symbatcher_v1_EngineReply__Output } from '../../symbatcher/v1/EngineReply';

/**
 * Answers to this worker's engine calls, one per call of a run it still
 * holds.
 */
export interface EngineReplyChunk {
  /**
   * The replies; call_id is the worker's own.
   */
  'replies'?: (_symbatcher_v1_EngineReply)[];
}

/**
 * Answers to this worker's engine calls, one per call of a run it still
 * holds.
 */
export interface EngineReplyChunk__Output {
  /**
   * The replies; call_id is the worker's own.
   */
  'replies': (_symbatcher_v1_EngineReply__Output)[];
}

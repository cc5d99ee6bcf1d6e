// Original file: ../proto/symbatcher/v1/common.proto

import type { ItemError as _symbatcher_v1_ItemError, ItemError__Output as _symbatcher_v1_ItemError__Output } from '../../symbatcher/v1/ItemError';
import type { Embeddings as _symbatcher_v1_Embeddings, Embeddings__Output as _symbatcher_v1_Embeddings__Output } from '../../symbatcher/v1/Embeddings';
import type { Long } from '@grpc/proto-loader';

/**
 * The answer to one engine call: its text or its error.
 */
export interface EngineReply {
  /**
   * The call_id of the EngineCall it answers (to a worker: the worker's own).
   */
  'call_id'?: (number | string | Long);
  /**
   * The engine's reply text.
   */
  'text'?: (string);
  /**
   * Why the call failed; kind is ERROR_KIND_ENGINE.
   */
  'error'?: (_symbatcher_v1_ItemError | null);
  /**
   * JSON object handed back to the caller as metadata (e.g. token usage, the
   * model that answered); empty means none.
   */
  'metadata_json'?: (string);
  /**
   * The answer to a CALL_KIND_EMBEDDING call.
   */
  'embeddings'?: (_symbatcher_v1_Embeddings | null);
  /**
   * The answer, or why there is none.
   */
  'outcome'?: "text"|"error"|"embeddings";
}

/**
 * The answer to one engine call: its text or its error.
 */
export interface EngineReply__Output {
  /**
   * The call_id of the EngineCall it answers (to a worker: the worker's own).
   */
  'call_id': (number);
  /**
   * The engine's reply text.
   */
  'text'?: (string);
  /**
   * Why the call failed; kind is ERROR_KIND_ENGINE.
   */
  'error'?: (_symbatcher_v1_ItemError__Output | null);
  /**
   * JSON object handed back to the caller as metadata (e.g. token usage, the
   * model that answered); empty means none.
   */
  'metadata_json': (string);
  /**
   * The answer to a CALL_KIND_EMBEDDING call.
   */
  'embeddings'?: (_symbatcher_v1_Embeddings__Output | null);
  /**
   * The answer, or why there is none.
   */
  'outcome'?: "text"|"error"|"embeddings";
}

// Original file: ../proto/symbatcher/v1/engine.proto

import type { EngineReply as _symbatcher_v1_EngineReply, EngineReply__Output as _symbatcher_v1_EngineReply__Output } from '../../symbatcher/v1/EngineReply';
import type { ItemError as _symbatcher_v1_ItemError, ItemError__Output as _symbatcher_v1_ItemError__Output } from '../../symbatcher/v1/ItemError';
import type { Long } from '@grpc/proto-loader';

/**
 * The answer to one batch.
 */
export interface EngineBatchResult {
  /**
   * The batch answered; an unknown id is ignored.
   */
  'batch_id'?: (number | string | Long);
  /**
   * One reply per call of the batch, matched by call_id, in any order (a
   * reply may be an error); empty with `batch_error` set fails them all. A
   * batch missing a reply for some call fails every call of the batch.
   */
  'replies'?: (_symbatcher_v1_EngineReply)[];
  /**
   * Set to fail every call of the batch with this error.
   */
  'batch_error'?: (_symbatcher_v1_ItemError | null);
}

/**
 * The answer to one batch.
 */
export interface EngineBatchResult__Output {
  /**
   * The batch answered; an unknown id is ignored.
   */
  'batch_id': (number);
  /**
   * One reply per call of the batch, matched by call_id, in any order (a
   * reply may be an error); empty with `batch_error` set fails them all. A
   * batch missing a reply for some call fails every call of the batch.
   */
  'replies': (_symbatcher_v1_EngineReply__Output)[];
  /**
   * Set to fail every call of the batch with this error.
   */
  'batch_error': (_symbatcher_v1_ItemError__Output | null);
}

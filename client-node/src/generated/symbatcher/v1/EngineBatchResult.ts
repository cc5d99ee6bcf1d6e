// Original file: ../proto/symbatcher/v1/engine.proto

import type { EngineReply as _symbatcher_v1_EngineReply, EngineReply__Output as _symbatcher_v1_EngineReply__Output } from '../../symbatcher/v1/EngineReply';
import type { ItemError as _symbatcher_v1_ItemError, ItemError__Output as _symbatcher_v1_ItemError__Output } from '../../symbatcher/v1/ItemError';
import type { Long } from '@grpc/proto-loader';

/**
 * The answer to one batch, whole or in parts.
 * 
 * Whole (`partial` unset): one reply per call of the batch not answered
 * yet, matched by call_id, in any order (a reply may be an error); empty
 * with `batch_error` set fails them all. It ends the batch: a call it
 * leaves without a reply fails every unanswered call of the batch.
 * 
 * In parts (`partial` set): its replies reach their calls at once, and the
 * batch stays open until every call has a reply (it then ends without
 * another message) or a whole result ends it. An engine whose calls are
 * requests of their own answers each call as soon as it is ready this way,
 * so no call waits for the slowest of its batch.
 */
export interface EngineBatchResult {
  /**
   * The batch answered; an unknown id is ignored.
   */
  'batch_id'?: (number | string | Long);
  /**
   * Replies, matched by call_id, in any order (a reply may be an error). A
   * second reply to a call, or one to a call not in the batch, is ignored.
   */
  'replies'?: (_symbatcher_v1_EngineReply)[];
  /**
   * Set to fail every call of the batch not answered yet with this error
   * (ends the batch even with `partial` set).
   */
  'batch_error'?: (_symbatcher_v1_ItemError | null);
  /**
   * These replies are sent ahead; more follow (see the message's doc).
   */
  'partial'?: (boolean);
}

/**
 * The answer to one batch, whole or in parts.
 * 
 * Whole (`partial` unset): one reply per call of the batch not answered
 * yet, matched by call_id, in any order (a reply may be an error); empty
 * with `batch_error` set fails them all. It ends the batch: a call it
 * leaves without a reply fails every unanswered call of the batch.
 * 
 * In parts (`partial` set): its replies reach their calls at once, and the
 * batch stays open until every call has a reply (it then ends without
 * another message) or a whole result ends it. An engine whose calls are
 * requests of their own answers each call as soon as it is ready this way,
 * so no call waits for the slowest of its batch.
 */
export interface EngineBatchResult__Output {
  /**
   * The batch answered; an unknown id is ignored.
   */
  'batch_id': (number);
  /**
   * Replies, matched by call_id, in any order (a reply may be an error). A
   * second reply to a call, or one to a call not in the batch, is ignored.
   */
  'replies': (_symbatcher_v1_EngineReply__Output)[];
  /**
   * Set to fail every call of the batch not answered yet with this error
   * (ends the batch even with `partial` set).
   */
  'batch_error': (_symbatcher_v1_ItemError__Output | null);
  /**
   * These replies are sent ahead; more follow (see the message's doc).
   */
  'partial': (boolean);
}

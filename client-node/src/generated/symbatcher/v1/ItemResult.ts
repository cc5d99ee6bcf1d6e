// Original file: ../proto/symbatcher/v1/batch.proto

import type { Outcome as _symbatcher_v1_Outcome, Outcome__Output as _symbatcher_v1_Outcome__Output } from '../../symbatcher/v1/Outcome';
import type { Usage as _symbatcher_v1_Usage, Usage__Output as _symbatcher_v1_Usage__Output } from '../../symbatcher/v1/Usage';
import type { Long } from '@grpc/proto-loader';

/**
 * The final outcome of one item.
 */
export interface ItemResult {
  /**
   * The item's index, as sent.
   */
  'index'?: (number | string | Long);
  /**
   * Its result or error.
   */
  'outcome'?: (_symbatcher_v1_Outcome | null);
  /**
   * Tokens and cost of the engine calls of its runs (cached and coalesced
   * calls counted with what they would have cost, in their own fields).
   */
  'usage'?: (_symbatcher_v1_Usage | null);
}

/**
 * The final outcome of one item.
 */
export interface ItemResult__Output {
  /**
   * The item's index, as sent.
   */
  'index': (number);
  /**
   * Its result or error.
   */
  'outcome': (_symbatcher_v1_Outcome__Output | null);
  /**
   * Tokens and cost of the engine calls of its runs (cached and coalesced
   * calls counted with what they would have cost, in their own fields).
   */
  'usage': (_symbatcher_v1_Usage__Output | null);
}

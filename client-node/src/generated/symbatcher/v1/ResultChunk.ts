// Original file: ../proto/symbatcher/v1/batch.proto

import type { ItemResult as _symbatcher_v1_ItemResult, ItemResult__Output as _symbatcher_v1_ItemResult__Output } from '../../symbatcher/v1/ItemResult';

/**
 * Results sent together, in completion order; each index appears once in a
 * job.
 */
export interface ResultChunk {
  /**
   * The results.
   */
  'results'?: (_symbatcher_v1_ItemResult)[];
}

/**
 * Results sent together, in completion order; each index appears once in a
 * job.
 */
export interface ResultChunk__Output {
  /**
   * The results.
   */
  'results': (_symbatcher_v1_ItemResult__Output)[];
}

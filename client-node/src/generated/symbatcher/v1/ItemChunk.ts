// Original file: ../proto/symbatcher/v1/batch.proto

import type { Item as _symbatcher_v1_Item, Item__Output as _symbatcher_v1_Item__Output } from '../../symbatcher/v1/Item';

/**
 * Items sent together. Any size within the 64 MiB message limit; the server
 * admits them under the job's window, splitting chunks larger than it.
 */
export interface ItemChunk {
  /**
   * The items, in any order.
   */
  'items'?: (_symbatcher_v1_Item)[];
}

/**
 * Items sent together. Any size within the 64 MiB message limit; the server
 * admits them under the job's window, splitting chunks larger than it.
 */
export interface ItemChunk__Output {
  /**
   * The items, in any order.
   */
  'items': (_symbatcher_v1_Item__Output)[];
}

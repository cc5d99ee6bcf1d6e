// Original file: ../proto/symbatcher/v1/common.proto

import type { ItemError as _symbatcher_v1_ItemError, ItemError__Output as _symbatcher_v1_ItemError__Output } from '../../symbatcher/v1/ItemError';

/**
 * Outcome of one item, as produced by a worker (WorkResult) and delivered to
 * the client (ItemResult). Exactly one of payload and error is set, except
 * with local_only.
 */
export interface Outcome {
  /**
   * Encoded result, per the job's codec (for CODEC_JSON: one UTF-8 JSON
   * value). Limited only by the 64 MiB message size.
   */
  'payload'?: (Buffer | Uint8Array | string);
  /**
   * Why the item failed.
   */
  'error'?: (_symbatcher_v1_ItemError | null);
  /**
   * True when the result could only be passed inside the worker's process
   * (the client and worker share it); `payload` is then empty. Default false;
   * workers in another process than the client always leave it false.
   */
  'local_only'?: (boolean);
  /**
   * The result, or why there is none.
   */
  'value'?: "payload"|"error";
}

/**
 * Outcome of one item, as produced by a worker (WorkResult) and delivered to
 * the client (ItemResult). Exactly one of payload and error is set, except
 * with local_only.
 */
export interface Outcome__Output {
  /**
   * Encoded result, per the job's codec (for CODEC_JSON: one UTF-8 JSON
   * value). Limited only by the 64 MiB message size.
   */
  'payload'?: (Buffer);
  /**
   * Why the item failed.
   */
  'error'?: (_symbatcher_v1_ItemError__Output | null);
  /**
   * True when the result could only be passed inside the worker's process
   * (the client and worker share it); `payload` is then empty. Default false;
   * workers in another process than the client always leave it false.
   */
  'local_only': (boolean);
  /**
   * The result, or why there is none.
   */
  'value'?: "payload"|"error";
}

// Original file: ../proto/symbatcher/v1/batch.proto

import type { Long } from '@grpc/proto-loader';

/**
 * One dataset item.
 */
export interface Item {
  /**
   * Position in the dataset. Must not repeat among the job's items not yet
   * answered (a repeat fails the job, field "items.index").
   */
  'index'?: (number | string | Long);
  /**
   * The item, encoded per the job's codec. Limited only by the 64 MiB
   * message size.
   */
  'payload'?: (Buffer | Uint8Array | string);
  /**
   * True when the payload cannot leave the client's process (only workers
   * in that process can run it); `payload` is then empty. Default false.
   */
  'local_only'?: (boolean);
}

/**
 * One dataset item.
 */
export interface Item__Output {
  /**
   * Position in the dataset. Must not repeat among the job's items not yet
   * answered (a repeat fails the job, field "items.index").
   */
  'index': (number);
  /**
   * The item, encoded per the job's codec. Limited only by the 64 MiB
   * message size.
   */
  'payload': (Buffer);
  /**
   * True when the payload cannot leave the client's process (only workers
   * in that process can run it); `payload` is then empty. Default false.
   */
  'local_only': (boolean);
}

// Original file: ../proto/symbatcher/v1/status.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The server's call cache.
 */
export interface CacheStatus {
  /**
   * Its directory; empty when the server keeps no cache on disk (identical
   * calls in flight are still coalesced).
   */
  'dir'?: (string);
  /**
   * Replies it holds.
   */
  'entries'?: (number | string | Long);
  /**
   * Bytes of those replies (keys and values).
   */
  'bytes'?: (number | string | Long);
  /**
   * Size cap in bytes (--cache-max-mb); the oldest replies go beyond it.
   */
  'max_bytes'?: (number | string | Long);
  /**
   * Calls answered from it since the server started.
   */
  'hits'?: (number | string | Long);
  /**
   * Calls answered by an identical call in flight since the server started.
   */
  'coalesced'?: (number | string | Long);
}

/**
 * The server's call cache.
 */
export interface CacheStatus__Output {
  /**
   * Its directory; empty when the server keeps no cache on disk (identical
   * calls in flight are still coalesced).
   */
  'dir': (string);
  /**
   * Replies it holds.
   */
  'entries': (number);
  /**
   * Bytes of those replies (keys and values).
   */
  'bytes': (number);
  /**
   * Size cap in bytes (--cache-max-mb); the oldest replies go beyond it.
   */
  'max_bytes': (number);
  /**
   * Calls answered from it since the server started.
   */
  'hits': (number);
  /**
   * Calls answered by an identical call in flight since the server started.
   */
  'coalesced': (number);
}

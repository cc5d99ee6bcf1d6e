// Original file: ../proto/symbatcher/v1/common.proto

/**
 * How a job's engine calls use the server's call cache.
 */
export const CacheMode = {
  /**
   * The server's choice: CACHE_MODE_USE for engines that call a provider
   * (openai), CACHE_MODE_OFF for echo and engine processes.
   */
  CACHE_MODE_UNSPECIFIED: 'CACHE_MODE_UNSPECIFIED',
  /**
   * Answer a call from the cache when it holds the same request; store new
   * replies; coalesce identical calls in flight.
   */
  CACHE_MODE_USE: 'CACHE_MODE_USE',
  /**
   * Send every call again and overwrite what the cache holds; still
   * coalesces identical calls in flight.
   */
  CACHE_MODE_REFRESH: 'CACHE_MODE_REFRESH',
  /**
   * Neither read nor write the cache, nor coalesce.
   */
  CACHE_MODE_OFF: 'CACHE_MODE_OFF',
} as const;

/**
 * How a job's engine calls use the server's call cache.
 */
export type CacheMode =
  /**
   * The server's choice: CACHE_MODE_USE for engines that call a provider
   * (openai), CACHE_MODE_OFF for echo and engine processes.
   */
  | 'CACHE_MODE_UNSPECIFIED'
  | 0
  /**
   * Answer a call from the cache when it holds the same request; store new
   * replies; coalesce identical calls in flight.
   */
  | 'CACHE_MODE_USE'
  | 1
  /**
   * Send every call again and overwrite what the cache holds; still
   * coalesces identical calls in flight.
   */
  | 'CACHE_MODE_REFRESH'
  | 2
  /**
   * Neither read nor write the cache, nor coalesce.
   */
  | 'CACHE_MODE_OFF'
  | 3

/**
 * How a job's engine calls use the server's call cache.
 */
export type CacheMode__Output = typeof CacheMode[keyof typeof CacheMode]

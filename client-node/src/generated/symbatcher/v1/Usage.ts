// Original file: ../proto/symbatcher/v1/common.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Tokens and cost of engine calls (an item's, or saved by the cache).
 */
export interface Usage {
  /**
   * Prompt tokens, as the engines reported them.
   */
  'prompt_tokens'?: (number | string | Long);
  /**
   * Completion tokens, as the engines reported them.
   */
  'completion_tokens'?: (number | string | Long);
  /**
   * Cost in US dollars of the calls whose model has a price.
   */
  'cost_usd'?: (number | string);
  /**
   * Engine calls counted.
   */
  'calls'?: (number | string | Long);
  /**
   * Of those, calls answered from the cache (no request sent).
   */
  'cache_hits'?: (number | string | Long);
  /**
   * Of those, calls answered by an identical call in flight.
   */
  'coalesced'?: (number | string | Long);
  /**
   * Of those, calls whose model has no price: their cost is unknown and
   * not in cost_usd.
   */
  'unpriced_calls'?: (number | string | Long);
}

/**
 * Tokens and cost of engine calls (an item's, or saved by the cache).
 */
export interface Usage__Output {
  /**
   * Prompt tokens, as the engines reported them.
   */
  'prompt_tokens': (number);
  /**
   * Completion tokens, as the engines reported them.
   */
  'completion_tokens': (number);
  /**
   * Cost in US dollars of the calls whose model has a price.
   */
  'cost_usd': (number);
  /**
   * Engine calls counted.
   */
  'calls': (number);
  /**
   * Of those, calls answered from the cache (no request sent).
   */
  'cache_hits': (number);
  /**
   * Of those, calls answered by an identical call in flight.
   */
  'coalesced': (number);
  /**
   * Of those, calls whose model has no price: their cost is unknown and
   * not in cost_usd.
   */
  'unpriced_calls': (number);
}

// Original file: ../proto/symbatcher/v1/batch.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The requests of one step of a job's forward(), by the way they went.
 */
export interface StepRoutes {
  /**
   * 1 for an item's first engine call, 2 for its second, ...
   */
  'step'?: (number);
  /**
   * Requests answered by a provider batch (at the batch price).
   */
  'batch_calls'?: (number | string | Long);
  /**
   * Requests answered online (at the online price).
   */
  'online_calls'?: (number | string | Long);
  /**
   * What they cost, in US dollars (priced calls; a call answered by both a
   * hedged batch and online counts both where both were billed).
   */
  'cost_usd'?: (number | string);
  /**
   * What the same requests would have cost all online.
   */
  'online_cost_usd'?: (number | string);
}

/**
 * The requests of one step of a job's forward(), by the way they went.
 */
export interface StepRoutes__Output {
  /**
   * 1 for an item's first engine call, 2 for its second, ...
   */
  'step': (number);
  /**
   * Requests answered by a provider batch (at the batch price).
   */
  'batch_calls': (number);
  /**
   * Requests answered online (at the online price).
   */
  'online_calls': (number);
  /**
   * What they cost, in US dollars (priced calls; a call answered by both a
   * hedged batch and online counts both where both were billed).
   */
  'cost_usd': (number);
  /**
   * What the same requests would have cost all online.
   */
  'online_cost_usd': (number);
}

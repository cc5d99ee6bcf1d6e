// Original file: ../proto/symbatcher/v1/common.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Percentiles of engine call latencies: from the moment a call's batch left
 * for its engine to the call's reply (for the openai engine this includes
 * waiting for rate limits and retries). All zero when no call was measured.
 */
export interface LatencyPercentiles {
  /**
   * Calls measured.
   */
  'count'?: (number | string | Long);
  /**
   * Median latency, in milliseconds.
   */
  'p50_ms'?: (number | string);
  /**
   * 90th percentile latency, in milliseconds.
   */
  'p90_ms'?: (number | string);
  /**
   * 99th percentile latency, in milliseconds.
   */
  'p99_ms'?: (number | string);
  /**
   * Largest latency, in milliseconds.
   */
  'max_ms'?: (number | string);
}

/**
 * Percentiles of engine call latencies: from the moment a call's batch left
 * for its engine to the call's reply (for the openai engine this includes
 * waiting for rate limits and retries). All zero when no call was measured.
 */
export interface LatencyPercentiles__Output {
  /**
   * Calls measured.
   */
  'count': (number);
  /**
   * Median latency, in milliseconds.
   */
  'p50_ms': (number);
  /**
   * 90th percentile latency, in milliseconds.
   */
  'p90_ms': (number);
  /**
   * 99th percentile latency, in milliseconds.
   */
  'p99_ms': (number);
  /**
   * Largest latency, in milliseconds.
   */
  'max_ms': (number);
}

// Original file: ../proto/symbatcher/v1/status.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Engine calls waiting for their batch.
 */
export interface QueueStatus {
  /**
   * The engine they go to.
   */
  'engine'?: (string);
  /**
   * Their "model" kwarg; empty when they name none.
   */
  'model'?: (string);
  /**
   * Calls waiting.
   */
  'waiting'?: (number | string | Long);
}

/**
 * Engine calls waiting for their batch.
 */
export interface QueueStatus__Output {
  /**
   * The engine they go to.
   */
  'engine': (string);
  /**
   * Their "model" kwarg; empty when they name none.
   */
  'model': (string);
  /**
   * Calls waiting.
   */
  'waiting': (number);
}

// Original file: ../proto/symbatcher/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The worker is registered.
 */
export interface WorkerRegistered {
  /**
   * The worker's id on the server (Status, logs); a new one per connection.
   */
  'worker_id'?: (number | string | Long);
}

/**
 * The worker is registered.
 */
export interface WorkerRegistered__Output {
  /**
   * The worker's id on the server (Status, logs); a new one per connection.
   */
  'worker_id': (number);
}

// Original file: ../proto/symbatcher/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The job ended; the worker may drop what it keeps for it.
 */
export interface JobFinished {
  /**
   * The job that ended.
   */
  'job_id'?: (number | string | Long);
}

/**
 * The job ended; the worker may drop what it keeps for it.
 */
export interface JobFinished__Output {
  /**
   * The job that ended.
   */
  'job_id': (number);
}

// Original file: ../proto/symbatcher/v1/batch.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The job is admitted.
 */
export interface JobAccepted {
  /**
   * The job's id on the server (also in Status and the server's logs).
   */
  'job_id'?: (number | string | Long);
  /**
   * The window in force for this job, in items: keep at most this many items
   * sent and not yet answered.
   */
  'window'?: (number);
  /**
   * The engine that answers this job's calls (the server's default engine if
   * the JobSpec named none).
   */
  'engine'?: (string);
  /**
   * The engine of its embedding calls; empty: none.
   */
  'embedding_engine'?: (string);
}

/**
 * The job is admitted.
 */
export interface JobAccepted__Output {
  /**
   * The job's id on the server (also in Status and the server's logs).
   */
  'job_id': (number);
  /**
   * The window in force for this job, in items: keep at most this many items
   * sent and not yet answered.
   */
  'window': (number);
  /**
   * The engine that answers this job's calls (the server's default engine if
   * the JobSpec named none).
   */
  'engine': (string);
  /**
   * The engine of its embedding calls; empty: none.
   */
  'embedding_engine': (string);
}

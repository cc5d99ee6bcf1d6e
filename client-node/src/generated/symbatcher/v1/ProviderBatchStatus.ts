// Original file: ../proto/symbatcher/v1/status.proto


/**
 * One batch submitted to a provider's batch API (an openai-batch engine).
 */
export interface ProviderBatchStatus {
  /**
   * The engine that submitted it.
   */
  'engine'?: (string);
  /**
   * The provider's batch id.
   */
  'batch_id'?: (string);
  /**
   * The provider's state: validating, in_progress, finalizing, completed,
   * failed, expired, cancelling or cancelled.
   */
  'state'?: (string);
  /**
   * Requests in the batch.
   */
  'total'?: (number);
  /**
   * Requests answered so far.
   */
  'completed'?: (number);
  /**
   * Requests that failed so far.
   */
  'failed'?: (number);
}

/**
 * One batch submitted to a provider's batch API (an openai-batch engine).
 */
export interface ProviderBatchStatus__Output {
  /**
   * The engine that submitted it.
   */
  'engine': (string);
  /**
   * The provider's batch id.
   */
  'batch_id': (string);
  /**
   * The provider's state: validating, in_progress, finalizing, completed,
   * failed, expired, cancelling or cancelled.
   */
  'state': (string);
  /**
   * Requests in the batch.
   */
  'total': (number);
  /**
   * Requests answered so far.
   */
  'completed': (number);
  /**
   * Requests that failed so far.
   */
  'failed': (number);
}

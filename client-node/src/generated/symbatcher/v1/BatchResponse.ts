// Original file: ../proto/symbatcher/v1/batch.proto

import type { JobAccepted as _symbatcher_v1_JobAccepted, JobAccepted__Output as _symbatcher_v1_JobAccepted__Output } from '../../symbatcher/v1/JobAccepted';
import type { ResultChunk as _symbatcher_v1_ResultChunk, ResultChunk__Output as _symbatcher_v1_ResultChunk__Output } from '../../symbatcher/v1/ResultChunk';
import type { JobSummary as _symbatcher_v1_JobSummary, JobSummary__Output as _symbatcher_v1_JobSummary__Output } from '../../symbatcher/v1/JobSummary';

/**
 * A message from the server on a job's stream.
 */
export interface BatchResponse {
  /**
   * First: the job is admitted.
   */
  'accepted'?: (_symbatcher_v1_JobAccepted | null);
  /**
   * Results of items that finished, any number.
   */
  'results'?: (_symbatcher_v1_ResultChunk | null);
  /**
   * Last: every item is answered; the stream then ends with status OK.
   */
  'summary'?: (_symbatcher_v1_JobSummary | null);
  /**
   * Which message this is.
   */
  'kind'?: "accepted"|"results"|"summary";
}

/**
 * A message from the server on a job's stream.
 */
export interface BatchResponse__Output {
  /**
   * First: the job is admitted.
   */
  'accepted'?: (_symbatcher_v1_JobAccepted__Output | null);
  /**
   * Results of items that finished, any number.
   */
  'results'?: (_symbatcher_v1_ResultChunk__Output | null);
  /**
   * Last: every item is answered; the stream then ends with status OK.
   */
  'summary'?: (_symbatcher_v1_JobSummary__Output | null);
  /**
   * Which message this is.
   */
  'kind'?: "accepted"|"results"|"summary";
}

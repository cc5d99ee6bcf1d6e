// Original file: ../proto/symbatcher/v1/status.proto

import type { Usage as _symbatcher_v1_Usage, Usage__Output as _symbatcher_v1_Usage__Output } from '../../symbatcher/v1/Usage';
import type { JobState as _symbatcher_v1_JobState, JobState__Output as _symbatcher_v1_JobState__Output } from '../../symbatcher/v1/JobState';
import type { Long } from '@grpc/proto-loader';

/**
 * One job, running (StatusResponse.jobs) or ended (finished_jobs).
 */
export interface JobStatus {
  /**
   * The job's id (JobAccepted.job_id).
   */
  'job_id'?: (number | string | Long);
  /**
   * The expression it runs.
   */
  'expression'?: (string);
  /**
   * The engine its chat (neurosymbolic) calls go to.
   */
  'engine'?: (string);
  /**
   * Items received so far.
   */
  'received'?: (number | string | Long);
  /**
   * Items waiting for a worker.
   */
  'queued'?: (number | string | Long);
  /**
   * Items assigned to workers (running or queued in a worker).
   */
  'running'?: (number | string | Long);
  /**
   * Items answered with a result.
   */
  'completed'?: (number | string | Long);
  /**
   * Items answered with an error.
   */
  'failed'?: (number | string | Long);
  /**
   * Whether the client has ended its input.
   */
  'input_closed'?: (boolean);
  /**
   * Cost in US dollars of the requests sent for the job so far.
   */
  'cost_usd'?: (number | string);
  /**
   * Its spend cap in US dollars; 0 with none.
   */
  'max_cost_usd'?: (number | string);
  /**
   * Calls answered from the cache or coalesced, with what they saved.
   */
  'saved'?: (_symbatcher_v1_Usage | null);
  /**
   * Items whose runs gave their slot back to wait on a provider batch
   * (replay); they run again once their calls are answered.
   */
  'parked'?: (number | string | Long);
  /**
   * The engine its embedding calls go to; empty: none.
   */
  'embedding_engine'?: (string);
  /**
   * Running, or how it ended.
   */
  'state'?: (_symbatcher_v1_JobState);
  /**
   * When it ended, in ms since the Unix epoch (the server's clock); 0 while
   * it runs.
   */
  'ended_unix_ms'?: (number | string | Long);
  /**
   * Seconds from its start to its end, or to now while it runs.
   */
  'wall_seconds'?: (number | string);
  /**
   * The error that failed it (JOB_STATE_FAILED); empty otherwise.
   */
  'error'?: (string);
}

/**
 * One job, running (StatusResponse.jobs) or ended (finished_jobs).
 */
export interface JobStatus__Output {
  /**
   * The job's id (JobAccepted.job_id).
   */
  'job_id': (number);
  /**
   * The expression it runs.
   */
  'expression': (string);
  /**
   * The engine its chat (neurosymbolic) calls go to.
   */
  'engine': (string);
  /**
   * Items received so far.
   */
  'received': (number);
  /**
   * Items waiting for a worker.
   */
  'queued': (number);
  /**
   * Items assigned to workers (running or queued in a worker).
   */
  'running': (number);
  /**
   * Items answered with a result.
   */
  'completed': (number);
  /**
   * Items answered with an error.
   */
  'failed': (number);
  /**
   * Whether the client has ended its input.
   */
  'input_closed': (boolean);
  /**
   * Cost in US dollars of the requests sent for the job so far.
   */
  'cost_usd': (number);
  /**
   * Its spend cap in US dollars; 0 with none.
   */
  'max_cost_usd': (number);
  /**
   * Calls answered from the cache or coalesced, with what they saved.
   */
  'saved': (_symbatcher_v1_Usage__Output | null);
  /**
   * Items whose runs gave their slot back to wait on a provider batch
   * (replay); they run again once their calls are answered.
   */
  'parked': (number);
  /**
   * The engine its embedding calls go to; empty: none.
   */
  'embedding_engine': (string);
  /**
   * Running, or how it ended.
   */
  'state': (_symbatcher_v1_JobState__Output);
  /**
   * When it ended, in ms since the Unix epoch (the server's clock); 0 while
   * it runs.
   */
  'ended_unix_ms': (number);
  /**
   * Seconds from its start to its end, or to now while it runs.
   */
  'wall_seconds': (number);
  /**
   * The error that failed it (JOB_STATE_FAILED); empty otherwise.
   */
  'error': (string);
}

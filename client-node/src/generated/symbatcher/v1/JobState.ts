// Original file: ../proto/symbatcher/v1/status.proto

/**
 * How a job stands.
 */
export const JobState = {
  /**
   * Not set (a server that does not report job states).
   */
  JOB_STATE_UNSPECIFIED: 'JOB_STATE_UNSPECIFIED',
  /**
   * Its items are being received or run.
   */
  JOB_STATE_RUNNING: 'JOB_STATE_RUNNING',
  /**
   * Every item was answered (some perhaps with an error) and the client got
   * the summary.
   */
  JOB_STATE_FINISHED: 'JOB_STATE_FINISHED',
  /**
   * The job failed as a whole (see JobStatus.error).
   */
  JOB_STATE_FAILED: 'JOB_STATE_FAILED',
  /**
   * Its client went away before it ended.
   */
  JOB_STATE_CANCELLED: 'JOB_STATE_CANCELLED',
} as const;

/**
 * How a job stands.
 */
export type JobState =
  /**
   * Not set (a server that does not report job states).
   */
  | 'JOB_STATE_UNSPECIFIED'
  | 0
  /**
   * Its items are being received or run.
   */
  | 'JOB_STATE_RUNNING'
  | 1
  /**
   * Every item was answered (some perhaps with an error) and the client got
   * the summary.
   */
  | 'JOB_STATE_FINISHED'
  | 2
  /**
   * The job failed as a whole (see JobStatus.error).
   */
  | 'JOB_STATE_FAILED'
  | 3
  /**
   * Its client went away before it ended.
   */
  | 'JOB_STATE_CANCELLED'
  | 4

/**
 * How a job stands.
 */
export type JobState__Output = typeof JobState[keyof typeof JobState]

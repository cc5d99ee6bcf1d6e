// Original file: ../proto/symbatcher/v1/common.proto

/**
 * Why an item (or an engine call) failed.
 */
export const ErrorKind = {
  /**
   * Not set; read as an error of unknown kind.
   */
  ERROR_KIND_UNSPECIFIED: 'ERROR_KIND_UNSPECIFIED',
  /**
   * forward() raised (or, in other languages, threw).
   */
  ERROR_KIND_USER: 'ERROR_KIND_USER',
  /**
   * The engine failed the call or its whole batch, or the engine went away.
   */
  ERROR_KIND_ENGINE: 'ERROR_KIND_ENGINE',
  /**
   * The item's workers disconnected while running it, max_attempts times.
   */
  ERROR_KIND_WORKER_LOST: 'ERROR_KIND_WORKER_LOST',
  /**
   * A payload or result could not be encoded or decoded (or a worker sent a
   * result without an outcome).
   */
  ERROR_KIND_ENCODING: 'ERROR_KIND_ENCODING',
  /**
   * In an EngineReply: the call's run ended (its job ended, it timed out,
   * it was given back) before its engine answered; nobody waits for the
   * answer. Not sent in item results: a cancelled job ends as a whole.
   */
  ERROR_KIND_CANCELLED: 'ERROR_KIND_CANCELLED',
  /**
   * No worker serves the job's expression. Not sent in results by the
   * server: such a job ends as a whole with FAILED_PRECONDITION.
   */
  ERROR_KIND_NO_WORKER: 'ERROR_KIND_NO_WORKER',
  /**
   * The item ran longer than its job's item_timeout_ms (type "TimeoutError").
   */
  ERROR_KIND_TIMEOUT: 'ERROR_KIND_TIMEOUT',
  /**
   * The job's spend cap (JobSpec.max_cost_usd) was reached before the item
   * finished: none of its engine calls is sent any more ("BudgetExceeded").
   */
  ERROR_KIND_BUDGET_EXCEEDED: 'ERROR_KIND_BUDGET_EXCEEDED',
  /**
   * In an EngineReply, only to a worker registered with `replays`: the call
   * waits on a provider batch (hours). Its run is over on the server, which
   * keeps the call and runs the item again from the start once the call is
   * answered. The worker unwinds forward() and sends no result for the run;
   * its slot takes the next item ("RunParked").
   */
  ERROR_KIND_PARKED: 'ERROR_KIND_PARKED',
} as const;

/**
 * Why an item (or an engine call) failed.
 */
export type ErrorKind =
  /**
   * Not set; read as an error of unknown kind.
   */
  | 'ERROR_KIND_UNSPECIFIED'
  | 0
  /**
   * forward() raised (or, in other languages, threw).
   */
  | 'ERROR_KIND_USER'
  | 1
  /**
   * The engine failed the call or its whole batch, or the engine went away.
   */
  | 'ERROR_KIND_ENGINE'
  | 2
  /**
   * The item's workers disconnected while running it, max_attempts times.
   */
  | 'ERROR_KIND_WORKER_LOST'
  | 3
  /**
   * A payload or result could not be encoded or decoded (or a worker sent a
   * result without an outcome).
   */
  | 'ERROR_KIND_ENCODING'
  | 4
  /**
   * In an EngineReply: the call's run ended (its job ended, it timed out,
   * it was given back) before its engine answered; nobody waits for the
   * answer. Not sent in item results: a cancelled job ends as a whole.
   */
  | 'ERROR_KIND_CANCELLED'
  | 5
  /**
   * No worker serves the job's expression. Not sent in results by the
   * server: such a job ends as a whole with FAILED_PRECONDITION.
   */
  | 'ERROR_KIND_NO_WORKER'
  | 6
  /**
   * The item ran longer than its job's item_timeout_ms (type "TimeoutError").
   */
  | 'ERROR_KIND_TIMEOUT'
  | 7
  /**
   * The job's spend cap (JobSpec.max_cost_usd) was reached before the item
   * finished: none of its engine calls is sent any more ("BudgetExceeded").
   */
  | 'ERROR_KIND_BUDGET_EXCEEDED'
  | 8
  /**
   * In an EngineReply, only to a worker registered with `replays`: the call
   * waits on a provider batch (hours). Its run is over on the server, which
   * keeps the call and runs the item again from the start once the call is
   * answered. The worker unwinds forward() and sends no result for the run;
   * its slot takes the next item ("RunParked").
   */
  | 'ERROR_KIND_PARKED'
  | 9

/**
 * Why an item (or an engine call) failed.
 */
export type ErrorKind__Output = typeof ErrorKind[keyof typeof ErrorKind]

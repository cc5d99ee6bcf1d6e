/**
 * A job's deadline (JobOptions `deadline` or `deadlineMs`) as
 * JobSpec.deadline_unix_ms. The server checks that it lies ahead (and
 * within 366 days); here only what the server cannot see is checked: the
 * two options together, and values that are no time at all.
 */

/** The options that set a job's deadline. */
export interface DeadlineOptions {
  deadline?: Date;
  deadlineMs?: number;
}

/**
 * Milliseconds since the Unix epoch of the job's deadline: `deadline`, or
 * `deadlineMs` from `nowMs`; undefined when neither is set. Throws a
 * TypeError or RangeError naming the option for a value that is no time.
 */
export function deadlineUnixMs(options: DeadlineOptions, nowMs: number = Date.now()): number | undefined {
  const { deadline, deadlineMs } = options;
  if (deadline !== undefined && deadlineMs !== undefined) {
    throw new RangeError("deadline, deadlineMs: set one of them, not both");
  }
  if (deadline !== undefined) {
    if (!(deadline instanceof Date)) {
      throw new TypeError(`deadline: must be a Date, got ${describe(deadline)}`);
    }
    const ms = deadline.getTime();
    if (!Number.isFinite(ms)) {
      throw new RangeError("deadline: must be a valid Date, got an Invalid Date");
    }
    return Math.max(0, Math.round(ms));
  }
  if (deadlineMs === undefined) {
    return undefined;
  }
  if (typeof deadlineMs !== "number") {
    throw new TypeError(`deadlineMs: must be a number of milliseconds, got ${describe(deadlineMs)}`);
  }
  if (!Number.isFinite(deadlineMs)) {
    throw new RangeError(`deadlineMs: must be a finite number of milliseconds, got ${deadlineMs}`);
  }
  return Math.max(0, Math.round(nowMs + deadlineMs));
}

function describe(value: unknown): string {
  return value === null ? "null" : typeof value === "object" ? value.constructor?.name ?? "object" : typeof value;
}

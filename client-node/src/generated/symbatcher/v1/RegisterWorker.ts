// Original file: ../proto/symbatcher/v1/worker.proto


/**
 * Who the worker is and what it serves. An invalid field ends the stream
 * with INVALID_ARGUMENT naming the field.
 */
export interface RegisterWorker {
  /**
   * For Status and logs; empty means "worker". Need not be unique. Names
   * here are trimmed, at most 256 characters, with no control or invisible
   * formatting characters (else INVALID_ARGUMENT naming the field).
   */
  'name'?: (string);
  /**
   * Expression names this worker serves, as jobs name them (e.g.
   * "mypkg.mod:Summarize"). At least one; none may be empty.
   */
  'expressions'?: (string)[];
  /**
   * Items it runs at once (1..=4096). The server assumes it runs
   * min(assigned, concurrency) of its runs at a time.
   */
  'concurrency'?: (number);
  /**
   * Items assigned beyond `concurrency`, queued in the worker so that a slot
   * that finishes starts its next item without a round trip (0..=4096;
   * default 0).
   */
  'prefetch'?: (number);
  /**
   * Identifies the worker's process (any unique string, e.g. a random UUID).
   * Items a client sends with `local_only` go only to workers whose
   * `process_token` equals the job's `JobSpec.process_token`.
   */
  'process_token'?: (string);
  /**
   * True when the worker gives a run's slot back on an ERROR_KIND_PARKED
   * reply (see JobInfo.replay_calls). Runs of a worker that does not say so
   * wait in their slot for every reply, whatever their job.
   */
  'replays'?: (boolean);
  /**
   * How often the worker sends a message (a Heartbeat when it has nothing
   * else) while its loop runs, in ms: 0 (the default) for none, else
   * 100..=60000. A worker that declares it and then sends nothing for four
   * intervals is stalled: it gets no new items, and every run it holds goes
   * back to its job's queue (with a CancelTasks to the worker, whose results
   * for them are dropped) until it sends again. See docs/protocol.md.
   */
  'heartbeat_interval_ms'?: (number);
}

/**
 * Who the worker is and what it serves. An invalid field ends the stream
 * with INVALID_ARGUMENT naming the field.
 */
export interface RegisterWorker__Output {
  /**
   * For Status and logs; empty means "worker". Need not be unique. Names
   * here are trimmed, at most 256 characters, with no control or invisible
   * formatting characters (else INVALID_ARGUMENT naming the field).
   */
  'name': (string);
  /**
   * Expression names this worker serves, as jobs name them (e.g.
   * "mypkg.mod:Summarize"). At least one; none may be empty.
   */
  'expressions': (string)[];
  /**
   * Items it runs at once (1..=4096). The server assumes it runs
   * min(assigned, concurrency) of its runs at a time.
   */
  'concurrency': (number);
  /**
   * Items assigned beyond `concurrency`, queued in the worker so that a slot
   * that finishes starts its next item without a round trip (0..=4096;
   * default 0).
   */
  'prefetch': (number);
  /**
   * Identifies the worker's process (any unique string, e.g. a random UUID).
   * Items a client sends with `local_only` go only to workers whose
   * `process_token` equals the job's `JobSpec.process_token`.
   */
  'process_token': (string);
  /**
   * True when the worker gives a run's slot back on an ERROR_KIND_PARKED
   * reply (see JobInfo.replay_calls). Runs of a worker that does not say so
   * wait in their slot for every reply, whatever their job.
   */
  'replays': (boolean);
  /**
   * How often the worker sends a message (a Heartbeat when it has nothing
   * else) while its loop runs, in ms: 0 (the default) for none, else
   * 100..=60000. A worker that declares it and then sends nothing for four
   * intervals is stalled: it gets no new items, and every run it holds goes
   * back to its job's queue (with a CancelTasks to the worker, whose results
   * for them are dropped) until it sends again. See docs/protocol.md.
   */
  'heartbeat_interval_ms': (number);
}

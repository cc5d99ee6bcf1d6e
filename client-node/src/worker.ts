/**
 * The worker side of `WorkerService.Work`: registers expressions implemented
 * in TypeScript, runs `forward()` for the items the server assigns, and sends
 * the engine calls those forwards make to the server, which batches them with
 * every other worker's calls.
 */
import * as os from "node:os";
import * as grpc from "@grpc/grpc-js";

import * as codec from "./codec";
import {
  CancelledError,
  EncodingError,
  EngineError,
  SymbatcherError,
  fromItemError,
  fromServiceError,
  isServiceError,
} from "./errors";
import type { Assignment, EngineCall, EngineReply, JobInfo, Outcome, WorkerCommand, WorkerMessage } from "./messages";
import type { WorkerServiceClient } from "./generated/symbatcher/v1/WorkerService";
import { Outbox } from "./outbox";
import { channelCredentials, clientOptions } from "./auth";
import { services } from "./proto";
import { Notifier } from "./signal";

/** A chat message of an engine call. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** What `forward()` gets besides its input: the run's identity and its engine. */
export interface ForwardContext {
  readonly taskId: number;
  readonly jobId: number;
  /** The item's position in its job's dataset. */
  readonly index: number;
  /** Aborted when the server cancels the run (its job ended) or the worker stops. */
  readonly signal: AbortSignal;
  /**
   * One engine call through the server, batched with every worker's calls.
   * `messages` defaults to one user message holding `prompt` (sent only to
   * engines that read messages); `kwargs` are request kwargs (model,
   * temperature, ...). Rejects with EngineError when the engine fails the
   * call, and at once with CancelledError when the run is cancelled.
   */
  engineCall(
    prompt: string,
    options?: { messages?: ChatMessage[]; kwargs?: Record<string, unknown> },
  ): Promise<{ text: string; metadata: Record<string, unknown> }>;
  /** `engineCall` returning the reply's text only. */
  query(prompt: string, options?: { messages?: ChatMessage[]; kwargs?: Record<string, unknown> }): Promise<string>;
  /**
   * One embedding call through the server (CALL_KIND_EMBEDDING), merged
   * with every worker's embedding calls into few requests by the job's
   * embedding engine: one vector per input, in input order. Rejects with
   * EngineError when the job has no embedding engine (the message says how
   * to give it one) or the engine fails the call.
   */
  embed(
    inputs: string | string[],
    options?: { kwargs?: Record<string, unknown> },
  ): Promise<{ vectors: number[][]; metadata: Record<string, unknown> }>;
}

/** An expression served by a Node worker. Its result must be JSON-encodable. */
export interface Expression {
  forward(input: unknown, kwargs: Record<string, unknown>, ctx: ForwardContext): unknown;
}

export interface WorkerOptions {
  /** Expression name (as jobs name it, e.g. "mypkg.mod:Summarize") -> implementation. */
  expressions: Record<string, Expression>;
  /** Items run at once (1..4096; default 8). */
  concurrency?: number;
  /** Items queued here beyond `concurrency` (0..4096; default: `concurrency`). */
  prefetch?: number;
  /** Name in Status and logs (default: node-HOST-PID). */
  name?: string;
  /** Bearer token the server requires of workers (default: $SYMBATCHER_AUTH_TOKEN). */
  token?: string;
  /** TLS, as for a Client (see ConnectionOptions). */
  tls?: boolean;
  tlsCa?: string;
  tlsClientCert?: string;
  tlsClientKey?: string;
}

/** What this worker has done so far. */
export interface WorkerStats {
  /** Runs whose forward() started. */
  started: number;
  /** Results sent to the server. */
  completed: number;
  /** Runs abandoned because the server cancelled them. */
  cancelled: number;
  /** Assigned runs given back unstarted when draining. */
  givenBack: number;
}

interface Run {
  assignment: Assignment;
  abort: AbortController;
  calls: Set<number>;
  cancelled: boolean;
}

interface PendingCall {
  run: Run;
  resolve: (reply: { text: string; vectors: number[][]; metadata: Record<string, unknown> }) => void;
  reject: (err: Error) => void;
}

type WorkCall = grpc.ClientDuplexStream<WorkerMessage, WorkerCommand>;

/** One `WorkerService.Work` connection serving `expressions`. */
export class Worker {
  readonly address: string;
  readonly name: string;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly stats: WorkerStats = { started: 0, completed: 0, cancelled: 0, givenBack: 0 };
  /** Set by start(). */
  workerId = 0;
  /** Why the connection ended, if it failed. */
  error: Error | undefined;

  private readonly expressions: Map<string, Expression>;
  private readonly client: WorkerServiceClient;
  private call: WorkCall | undefined;
  private outbox: Outbox | undefined;
  private readonly jobs = new Map<number, { info: JobInfo; kwargs: Record<string, unknown> }>();
  private readonly queue: Assignment[] = [];
  private readonly running = new Map<number, Run>();
  private readonly pending = new Map<number, PendingCall>();
  private readonly idle = new Notifier();
  private nextCallId = 1;
  private draining = false;
  private closing = false;
  private ended = false;
  private resolveClosed!: () => void;
  /** Resolves when the connection has ended, for any reason (`error` says why if it failed). */
  readonly closed: Promise<void> = new Promise((resolve) => (this.resolveClosed = resolve));

  constructor(address: string, options: WorkerOptions) {
    this.address = address;
    this.expressions = new Map(Object.entries(options.expressions));
    this.concurrency = options.concurrency ?? 8;
    this.prefetch = options.prefetch ?? this.concurrency;
    this.name = options.name ?? `node-${os.hostname()}-${process.pid}`;
    if (this.expressions.size === 0) throw new RangeError("expressions: name at least one expression");
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new RangeError(`concurrency: must be an integer of at least 1, got ${this.concurrency}`);
    }
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0) {
      throw new RangeError(`prefetch: must be an integer of at least 0, got ${this.prefetch}`);
    }
    const { WorkerService } = services();
    this.client = new WorkerService(address, channelCredentials(options), clientOptions(options.token));
  }

  /** Connects and registers; resolves with the worker id the server gave. */
  async start(): Promise<number> {
    const call = this.client.Work();
    this.call = call;
    this.outbox = new Outbox(call);
    const registered = new Promise<number>((resolve, reject) => {
      const onData = (command: WorkerCommand) => {
        call.off("error", onError);
        call.off("end", onEnd);
        if (command.kind === "registered") {
          call.on("data", (next: WorkerCommand) => this.handle(next));
          call.on("error", (err: Error) => this.end(isServiceError(err) ? fromServiceError(err, this.address) : err));
          call.on("end", () => this.end(undefined));
          resolve(command.registered!.worker_id);
        } else {
          reject(new SymbatcherError(`the server answered registration with ${command.kind}`));
          call.on("error", () => undefined); // the cancellation's own error
          call.cancel();
        }
      };
      const onError = (err: Error) => {
        call.off("data", onData);
        reject(isServiceError(err) ? fromServiceError(err, this.address) : err);
      };
      const onEnd = () => reject(new SymbatcherError("the server closed the worker stream during registration"));
      call.once("data", onData);
      call.once("error", onError);
      call.once("end", onEnd);
    });
    call.write({
      register: {
        name: this.name,
        expressions: [...this.expressions.keys()],
        concurrency: this.concurrency,
        prefetch: this.prefetch,
      },
    });
    try {
      this.workerId = await registered;
    } catch (err) {
      this.end(err as Error);
      throw err;
    }
    return this.workerId;
  }

  /**
   * Stops gracefully: the server assigns nothing more and gets back the
   * assigned runs not yet started; running ones finish and report (for at
   * most `graceMs`, then they are abandoned); then the stream closes.
   */
  async drain(graceMs = 30_000): Promise<void> {
    if (this.call === undefined || this.ended) return;
    if (!this.draining) {
      this.draining = true;
      this.giveBack(this.queue.splice(0));
    }
    const deadline = Date.now() + graceMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    while (this.running.size > 0 && Date.now() < deadline && !this.ended) {
      await Promise.race([this.idle.wait(), timeout, this.closed]);
    }
    clearTimeout(timer);
    await this.stop();
  }

  /** Disconnects now: running runs are abandoned (the server re-queues them). */
  async stop(): Promise<void> {
    if (this.call === undefined) return;
    if (!this.closing && !this.ended) {
      this.closing = true;
      this.abandonAll(new CancelledError("worker stopped"));
      await this.outbox!.flushed();
      this.call.end();
      // The server closes its side once it has seen ours; do not wait forever.
      const timer = setTimeout(() => this.call!.cancel(), 5_000);
      await this.closed;
      clearTimeout(timer);
    }
    await this.closed;
  }

  /** Drains on the first SIGINT/SIGTERM, stops on the second. Returns a function that uninstalls the handlers. */
  stopOnSignals(graceMs = 30_000): () => void {
    let signals = 0;
    const handler = () => {
      signals += 1;
      void (signals === 1 ? this.drain(graceMs) : this.stop());
    };
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
    const uninstall = () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    };
    void this.closed.then(uninstall);
    return uninstall;
  }

  // -- commands from the server ------------------------------------------

  private handle(command: WorkerCommand): void {
    switch (command.kind) {
      case "job": {
        const info = command.job!;
        let kwargs: Record<string, unknown> = {};
        try {
          kwargs = info.kwargs_json ? (JSON.parse(info.kwargs_json) as Record<string, unknown>) : {};
        } catch {
          // Validated by the server as a JSON object; left empty if not.
        }
        this.jobs.set(info.job_id, { info, kwargs });
        break;
      }
      case "assignments":
        if (this.draining || this.closing) {
          // Assigned before the server saw the drain: give them back too.
          this.giveBack(command.assignments!.assignments);
        } else {
          this.queue.push(...command.assignments!.assignments);
          this.pump();
        }
        break;
      case "replies":
        for (const reply of command.replies!.replies) this.deliver(reply);
        break;
      case "cancel":
        for (const taskId of command.cancel!.task_ids) this.cancel(taskId);
        break;
      case "job_finished":
        this.jobs.delete(command.job_finished!.job_id);
        break;
      default:
        break;
    }
  }

  private deliver(reply: EngineReply): void {
    const pending = this.pending.get(reply.call_id);
    if (pending === undefined) return; // its run was cancelled
    this.pending.delete(reply.call_id);
    pending.run.calls.delete(reply.call_id);
    if (reply.outcome === "error" && reply.error) {
      pending.reject(fromItemError(reply.error));
      return;
    }
    let metadata: Record<string, unknown> = {};
    try {
      metadata = reply.metadata_json ? (JSON.parse(reply.metadata_json) as Record<string, unknown>) : {};
    } catch (err) {
      pending.reject(new EncodingError(`engine reply metadata is not JSON: ${(err as Error).message}`));
      return;
    }
    const vectors = (reply.embeddings?.vectors ?? []).map((vector) => (vector.values ?? []).map(Number));
    pending.resolve({ text: reply.text ?? "", vectors, metadata });
  }

  /**
   * Abandons a run: its engine calls reject at once, its own result is not
   * sent, and one WorkResult acknowledges the cancellation so the server
   * stops counting the run against this worker's slots.
   */
  private cancel(taskId: number): void {
    const queued = this.queue.findIndex((a) => a.task_id === taskId);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.stats.cancelled += 1;
      this.acknowledge(taskId);
      return;
    }
    const run = this.running.get(taskId);
    if (run === undefined) return;
    this.abandon(run, new CancelledError(`run ${taskId} of item ${run.assignment.index} was cancelled`));
    this.stats.cancelled += 1;
    this.running.delete(taskId);
    this.acknowledge(taskId);
    this.idle.notify();
    this.pump();
  }

  private acknowledge(taskId: number): void {
    this.outbox!.result({
      task_id: taskId,
      outcome: {
        error: {
          kind: "ERROR_KIND_CANCELLED",
          type: "CancelledError",
          message: `run ${taskId} was cancelled by the server`,
          traceback: "",
        },
      },
    });
  }

  private abandon(run: Run, err: Error): void {
    run.cancelled = true;
    for (const callId of run.calls) {
      const pending = this.pending.get(callId);
      this.pending.delete(callId);
      pending?.reject(err);
    }
    run.calls.clear();
    run.abort.abort(err);
  }

  private abandonAll(err: Error): void {
    for (const run of this.running.values()) this.abandon(run, err);
    this.running.clear();
    this.queue.splice(0);
    this.idle.notify();
  }

  private giveBack(assignments: Assignment[]): void {
    this.stats.givenBack += assignments.length;
    this.outbox!.drain(assignments.map((a) => a.task_id));
  }

  private end(err: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.closing && err !== undefined) this.error = err;
    this.abandonAll(err ?? new SymbatcherError("the worker connection closed"));
    this.client.close();
    this.resolveClosed();
  }

  // -- runs ----------------------------------------------------------------

  private pump(): void {
    while (this.running.size < this.concurrency && this.queue.length > 0 && !this.closing) {
      const assignment = this.queue.shift()!;
      const run: Run = { assignment, abort: new AbortController(), calls: new Set(), cancelled: false };
      this.running.set(assignment.task_id, run);
      this.outbox!.start(assignment.task_id);
      this.stats.started += 1;
      void this.execute(run);
    }
  }

  private async execute(run: Run): Promise<void> {
    const outcome = await this.outcome(run);
    if (!run.cancelled && !this.ended) {
      this.running.delete(run.assignment.task_id);
      this.outbox!.result({ task_id: run.assignment.task_id, outcome });
      this.stats.completed += 1;
      this.idle.notify();
      this.pump();
    }
  }

  private async outcome(run: Run): Promise<Outcome> {
    const { assignment } = run;
    const job = this.jobs.get(assignment.job_id);
    let input: unknown;
    try {
      if (job === undefined) throw new EncodingError(`no JobInfo for job ${assignment.job_id}`);
      if (job.info.codec === "CODEC_PICKLE") {
        throw new EncodingError("the job uses the pickle codec, which a Node worker cannot read; submit it with JSON");
      }
      if (assignment.local_only) {
        throw new EncodingError(`item ${assignment.index} exists only in the client's process`);
      }
      input = codec.decode(assignment.payload, `item ${assignment.index}`);
    } catch (err) {
      return errorOutcome(err, "ERROR_KIND_ENCODING");
    }
    const expression = this.expressions.get(job.info.expression);
    let value: unknown;
    try {
      if (expression === undefined) throw new SymbatcherError(`expression ${job.info.expression} is not served here`);
      value = await expression.forward(input, job.kwargs, this.context(run, job.info));
    } catch (err) {
      return errorOutcome(err, err instanceof EngineError ? "ERROR_KIND_ENGINE" : "ERROR_KIND_USER");
    }
    try {
      return { payload: codec.encode(value, `result of item ${assignment.index}`) };
    } catch (err) {
      return errorOutcome(err, "ERROR_KIND_ENCODING");
    }
  }

  private context(run: Run, info: JobInfo): ForwardContext {
    const { assignment } = run;
    const send = (call: Omit<EngineCall, "call_id">) => {
      if (run.cancelled || this.closing || this.ended) {
        return Promise.reject(new CancelledError(`run ${assignment.task_id} no longer runs`));
      }
      const callId = this.nextCallId++;
      return new Promise<{ text: string; vectors: number[][]; metadata: Record<string, unknown> }>(
        (resolve, reject) => {
          this.pending.set(callId, { run, resolve, reject });
          run.calls.add(callId);
          this.outbox!.call({ task_id: assignment.task_id, call: { ...call, call_id: callId } });
        },
      );
    };
    const engineCall: ForwardContext["engineCall"] = async (prompt, options = {}) => {
      const messages = options.messages ?? (info.engine_wants_messages ? [{ role: "user", content: prompt }] : undefined);
      const { text, metadata } = await send({
        prompt,
        messages_json: messages ? JSON.stringify(messages) : "",
        kwargs_json: options.kwargs ? JSON.stringify(options.kwargs) : "",
      });
      return { text, metadata };
    };
    const embed: ForwardContext["embed"] = async (inputs, options = {}) => {
      const { vectors, metadata } = await send({
        kind: "CALL_KIND_EMBEDDING",
        inputs: typeof inputs === "string" ? [inputs] : inputs,
        kwargs_json: options.kwargs ? JSON.stringify(options.kwargs) : "",
      });
      return { vectors, metadata };
    };
    return {
      taskId: assignment.task_id,
      jobId: assignment.job_id,
      index: assignment.index,
      signal: run.abort.signal,
      engineCall,
      query: async (prompt, options) => (await engineCall(prompt, options)).text,
      embed,
    };
  }
}

function errorOutcome(err: unknown, kind: "ERROR_KIND_USER" | "ERROR_KIND_ENGINE" | "ERROR_KIND_ENCODING"): Outcome {
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    error: { kind, type: error.name, message: error.message, traceback: error.stack ?? "" },
  };
}

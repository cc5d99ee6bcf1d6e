/**
 * The client side of `BatchService.Batch`: submits a job (JobSpec, items
 * within the server's window and the stream's write backpressure, then
 * EndOfInput) and yields results as they arrive.
 */
import * as grpc from "@grpc/grpc-js";

import * as codec from "./codec";
import { CancelledError, SymbatcherError, fromItemError, fromServiceError, isServiceError } from "./errors";
import type { BatchRequest, BatchResponse, ItemResult, JobAccepted, JobSpec, JobSummary, StatusResponse } from "./messages";
import { channelCredentials, clientOptions, type ConnectionOptions } from "./auth";
import { deadlineUnixMs } from "./deadline";
import type { BatchServiceClient } from "./generated/symbatcher/v1/BatchService";
import type { StatusServiceClient } from "./generated/symbatcher/v1/StatusService";
import { services } from "./proto";
import { Notifier, settlesNow } from "./signal";

/** A job's settings; see JobSpec in proto/symbatcher/v1/batch.proto. */
export interface JobOptions {
  /** Name the expression's workers registered under, e.g. "mypkg.mod:Summarize". */
  expression: string;
  /** Largest engine batch formed from this job's calls (1..4096; default 5). */
  batchSize?: number;
  /** Longest wait of a call for its batch to fill, in ms (unset: the server's default; 0: none). */
  maxQueueDelayMs?: number;
  /** Keyword arguments passed to every forward() (JSON object). */
  kwargs?: Record<string, unknown>;
  /** Engine name on the server ("" or unset: the server's default engine). */
  engine?: string;
  /**
   * Engine of the job's embedding calls (`ctx.embed`); "" or unset: the
   * server's default embedding engine (without one, such calls fail naming
   * the kind and how to configure one).
   */
  embeddingEngine?: string;
  /** Most items in flight at once (unset: the server's default, 4096). */
  window?: number;
  /** Runs of an item before it fails when its workers keep disconnecting (unset: the server's default, 3). */
  maxAttempts?: number;
  /** How long the job waits for a worker of its expression, in ms (unset: the server's default, 30000). */
  workerWaitMs?: number;
  /** Items per ItemChunk message (default 256). */
  chunkSize?: number;
  /**
   * When the job must be done (JobSpec.deadline_unix_ms): a batch API engine
   * with an online fallback sends calls by provider batch only while the time
   * left can absorb the batch turnaround, and online after. Other engines
   * ignore it. Set this or `deadlineMs`, not both; unset: no deadline.
   */
  deadline?: Date;
  /** The job's deadline as milliseconds from submission (see `deadline`). */
  deadlineMs?: number;
}

/** One item's result: its value, or the error that took its place. */
export type JobResult =
  | { index: number; ok: true; value: unknown }
  | { index: number; ok: false; error: Error };

type BatchCall = grpc.ClientDuplexStream<BatchRequest, BatchResponse>;

/** A connection to a symbatcher server, for jobs and status. */
export class Client {
  readonly address: string;
  private readonly batch: BatchServiceClient;
  private readonly statusClient: StatusServiceClient;

  /**
   * `token`: the bearer token the server requires (default: $SYMBATCHER_AUTH_TOKEN);
   * `tls`, `tlsCa`, `tlsClientCert`, `tlsClientKey`: TLS, and the client
   * certificate for a server that verifies clients (see ConnectionOptions).
   */
  constructor(address: string, options: ConnectionOptions = {}) {
    this.address = address;
    const { BatchService, StatusService } = services();
    const credentials = channelCredentials(options);
    this.batch = new BatchService(address, credentials, clientOptions(options.token));
    this.statusClient = new StatusService(address, credentials, clientOptions(options.token));
  }

  /** Starts a job over `items` (indices 0, 1, ... in iteration order); iterate the Job for results. */
  submit(options: JobOptions, items: Iterable<unknown> | AsyncIterable<unknown>): Job {
    // Checked before the call opens: a bad option throws here.
    const deadline = deadlineUnixMs(options);
    const call = this.batch.Batch();
    return new Job(call, options, items, this.address, deadline);
  }

  /** Runs a job to its end: results in dataset order (an Error in place of a failed item), and the summary. */
  async run(
    options: JobOptions,
    items: Iterable<unknown> | AsyncIterable<unknown>,
  ): Promise<{ results: unknown[]; summary: JobSummary }> {
    const job = this.submit(options, items);
    const results: unknown[] = [];
    for await (const result of job) {
      results[result.index] = result.ok ? result.value : result.error;
    }
    return { results, summary: await job.summary };
  }

  /** A snapshot of the server: jobs, workers, queues, engines. */
  status(): Promise<StatusResponse> {
    return new Promise((resolve, reject) => {
      this.statusClient.Status({}, (err, response) =>
        err ? reject(fromServiceError(err, this.address)) : resolve(response!),
      );
    });
  }

  close(): void {
    this.batch.close();
    this.statusClient.close();
  }
}

/** One running job: an async iterable of results in completion order. */
export class Job implements AsyncIterable<JobResult> {
  /** The server's JobAccepted (job id and the window in force). */
  readonly accepted: Promise<JobAccepted>;
  /** The final JobSummary; rejects with the job's error. */
  readonly summary: Promise<JobSummary>;

  private readonly results: JobResult[] = [];
  private readonly wake = new Notifier();
  private sent = 0;
  private consumed = 0;
  private window = 0;
  private done = false;
  private error: Error | undefined;
  private settle!: { accepted: (a: JobAccepted) => void; summary: (s: JobSummary) => void; fail: (e: Error) => void };

  constructor(
    private readonly call: BatchCall,
    private readonly options: JobOptions,
    items: Iterable<unknown> | AsyncIterable<unknown>,
    private readonly address: string,
    /** JobSpec.deadline_unix_ms, from the options when the job was submitted. */
    private readonly deadlineUnixMs?: number,
  ) {
    let acceptedFns: [(a: JobAccepted) => void, (e: Error) => void];
    let summaryFns: [(s: JobSummary) => void, (e: Error) => void];
    this.accepted = new Promise((resolve, reject) => (acceptedFns = [resolve, reject]));
    this.summary = new Promise((resolve, reject) => (summaryFns = [resolve, reject]));
    // Callers may await only one of them: a failure must not go unhandled.
    this.accepted.catch(() => undefined);
    this.summary.catch(() => undefined);
    this.settle = {
      accepted: acceptedFns![0],
      summary: summaryFns![0],
      fail: (err) => {
        acceptedFns[1](err);
        summaryFns[1](err);
      },
    };
    call.on("data", (response: BatchResponse) => this.onResponse(response));
    call.on("error", (err: Error) =>
      this.finish(isServiceError(err) ? fromServiceError(err, this.address) : err),
    );
    call.on("end", () => this.finish(new SymbatcherError("the server ended the job without a JobSummary")));
    this.send(items).catch((err: Error) => {
      this.finish(err);
      call.cancel();
    });
  }

  /** Cancels the job: the server drops its items and tells its workers; iteration ends with CancelledError. */
  cancel(): void {
    this.finish(new CancelledError("job cancelled by the client"));
    this.call.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JobResult> {
    for (;;) {
      const result = this.results.shift();
      if (result !== undefined) {
        yield result;
        // The consumer is back for the next one: this one is done with.
        this.consumed += 1;
        this.wake.notify();
      } else if (this.done) {
        if (this.error !== undefined) throw this.error;
        return;
      } else {
        await this.wake.wait();
      }
    }
  }

  private spec(): JobSpec {
    const o = this.options;
    return {
      expression: o.expression,
      batch_size: o.batchSize ?? 5,
      // Unset options stay unset: the server applies its defaults.
      max_queue_delay_ms: o.maxQueueDelayMs,
      kwargs_json: JSON.stringify(o.kwargs ?? {}),
      codec: "CODEC_JSON",
      engine: o.engine ?? "",
      embedding_engine: o.embeddingEngine ?? "",
      window: o.window,
      max_attempts: o.maxAttempts,
      worker_wait_ms: o.workerWaitMs,
      deadline_unix_ms: this.deadlineUnixMs,
    };
  }

  /** Sends the spec, the items within the window, then EndOfInput. */
  private async send(items: Iterable<unknown> | AsyncIterable<unknown>): Promise<void> {
    await this.write({ spec: this.spec() });
    this.window = (await this.accepted).window;
    const chunkSize = Math.max(1, this.options.chunkSize ?? 256);
    const iterator =
      Symbol.asyncIterator in items
        ? (items as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (items as Iterable<unknown>)[Symbol.iterator]();
    let chunk: { index: number; payload: Buffer }[] = [];
    const flush = async () => {
      if (chunk.length === 0) return;
      const items = chunk;
      chunk = [];
      this.sent += items.length;
      await this.write({ items: { items } });
    };
    for (let index = 0; ; index++) {
      // Within the window: items sent and not yet consumed by the iterator.
      while (!this.done && this.sent + chunk.length - this.consumed >= this.window) {
        await flush();
        if (this.sent - this.consumed >= this.window) await this.wake.wait();
      }
      if (this.done) return;
      const next = Promise.resolve(iterator.next());
      // A slow source: send what is ready rather than hold it back.
      if (chunk.length > 0 && !(await settlesNow(next))) await flush();
      const { value, done } = await next;
      if (done) break;
      chunk.push({ index, payload: codec.encode(value, `item ${index}`) });
      if (chunk.length >= chunkSize) await flush();
    }
    await flush();
    await this.write({ end: {} });
    this.call.end();
  }

  /** Writes one message, waiting while the stream's buffer is full. */
  private async write(message: BatchRequest): Promise<void> {
    if (this.done) return;
    if (!this.call.write(message)) {
      await new Promise<void>((resolve) => {
        const ready = () => {
          this.call.off("drain", ready);
          this.call.off("close", ready);
          resolve();
        };
        this.call.on("drain", ready);
        this.call.on("close", ready);
      });
    }
  }

  private onResponse(response: BatchResponse): void {
    switch (response.kind) {
      case "accepted":
        this.settle.accepted(response.accepted!);
        break;
      case "results":
        for (const result of response.results!.results) this.results.push(toResult(result));
        this.wake.notify();
        break;
      case "summary":
        this.settle.summary(response.summary!);
        this.done = true;
        this.wake.notify();
        break;
    }
  }

  private finish(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.error = err;
    this.settle.fail(err);
    this.wake.notify();
  }
}

function toResult(result: ItemResult): JobResult {
  const { index, outcome } = result;
  if (outcome?.value === "error" && outcome.error) {
    return { index, ok: false, error: fromItemError(outcome.error) };
  }
  if (outcome?.value !== "payload") {
    const err = new SymbatcherError(`item ${index}: the server sent a result without an outcome`);
    return { index, ok: false, error: err };
  }
  try {
    return { index, ok: true, value: codec.decode(outcome.payload!, `result of item ${index}`) };
  } catch (err) {
    return { index, ok: false, error: err as Error };
  }
}

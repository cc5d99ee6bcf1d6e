/**
 * A worker's outgoing messages: whatever its runs produce within one turn of
 * the event loop leaves as one message per kind (runs started, drain,
 * engine calls, results), written under the stream's backpressure. Starts go
 * first, so the server never sees a result before the start of the run that
 * slot took next.
 */
import type * as grpc from "@grpc/grpc-js";

import type { WorkResult, WorkerEngineCall, WorkerMessage } from "./messages";
import { Notifier } from "./signal";

export class Outbox {
  private results: WorkResult[] = [];
  private calls: WorkerEngineCall[] = [];
  private started: number[] = [];
  private unstarted: number[] | undefined;
  private scheduled = false;
  private writing = false;
  private readonly idle = new Notifier();

  constructor(private readonly stream: grpc.ClientWritableStream<WorkerMessage>) {}

  result(result: WorkResult): void {
    this.results.push(result);
    this.schedule();
  }

  /** A run's forward() started (RunsStarted). */
  start(taskId: number): void {
    this.started.push(taskId);
    this.schedule();
  }

  call(call: WorkerEngineCall): void {
    this.calls.push(call);
    this.schedule();
  }

  /** A DrainWorker, giving back `taskIds` (may be empty). */
  drain(taskIds: number[]): void {
    this.unstarted = [...(this.unstarted ?? []), ...taskIds];
    this.schedule();
  }

  /** Resolves once everything queued so far is written. */
  async flushed(): Promise<void> {
    while (this.scheduled || this.writing) await this.idle.wait();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.write());
  }

  private take(): WorkerMessage | undefined {
    if (this.started.length > 0) {
      const task_ids = this.started;
      this.started = [];
      return { started: { task_ids } };
    }
    if (this.unstarted !== undefined) {
      const unstarted_task_ids = this.unstarted;
      this.unstarted = undefined;
      return { drain: { unstarted_task_ids } };
    }
    if (this.calls.length > 0) {
      const calls = this.calls;
      this.calls = [];
      return { engine_calls: { calls } };
    }
    if (this.results.length > 0) {
      const results = this.results;
      this.results = [];
      return { results: { results } };
    }
    return undefined;
  }

  private async write(): Promise<void> {
    this.scheduled = false;
    if (this.writing) return;
    this.writing = true;
    for (let message = this.take(); message !== undefined; message = this.take()) {
      if (this.stream.destroyed || this.stream.writableEnded) break;
      if (!this.stream.write(message)) await this.writable();
    }
    this.writing = false;
    this.idle.notify();
  }

  private writable(): Promise<void> {
    return new Promise((resolve) => {
      const ready = () => {
        this.stream.off("drain", ready);
        this.stream.off("close", ready);
        resolve();
      };
      this.stream.on("drain", ready);
      this.stream.on("close", ready);
    });
  }
}

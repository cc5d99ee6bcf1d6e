/** The Node worker's Cancel and drain handling. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CancelledError, Client, EmbeddedServer, Worker } from "../src";
import { Slow, Watched, waitUntil } from "./expressions";

describe("Node worker lifecycle", () => {
  it("abandons a cancelled run: its engine calls reject at once and no result is sent", async () => {
    // Engine batches take 3 s: a reply cannot come before the cancel.
    const server = await EmbeddedServer.start({ args: ["--echo-latency-ms", "3000"] });
    const client = new Client(server.address);
    const watched = new Watched();
    const worker = new Worker(server.address, { expressions: { "test:Watched": watched }, concurrency: 4 });
    try {
      await worker.start();
      const job = client.submit({ expression: "test:Watched", batchSize: 4 }, ["a", "b", "c"]);
      await waitUntil(() => watched.started.length === 3, "three runs started");
      // Let the engine calls reach the server and leave in a batch.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const cancelledAt = Date.now();
      job.cancel();
      await assert.rejects(job.summary, CancelledError);
      await waitUntil(() => watched.outcomes.length === 3, "three engine calls rejected", 2_000);
      for (const outcome of watched.outcomes) {
        assert.equal(outcome.error, "CancelledError");
        assert.ok(outcome.aborted, "ctx.signal is aborted");
        assert.ok(outcome.at - cancelledAt < 1_000, `rejected ${outcome.at - cancelledAt} ms after the cancel`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(worker.stats, { started: 3, completed: 0, cancelled: 3, givenBack: 0 });
    } finally {
      await worker.stop();
      client.close();
      await server.stop();
    }
  });

  it("drains: gives back unstarted runs, finishes the running one, then disconnects", async () => {
    const server = await EmbeddedServer.start();
    const client = new Client(server.address);
    const first = new Worker(server.address, {
      expressions: { "test:Slow": new Slow("first") },
      concurrency: 1,
      prefetch: 3,
      name: "first",
    });
    const second = new Worker(server.address, { expressions: { "test:Slow": new Slow("second") }, name: "second" });
    try {
      await first.start();
      const job = client.submit({ expression: "test:Slow", kwargs: { delayMs: 300 } }, [0, 1, 2, 3]);
      await waitUntil(() => first.stats.started === 1, "the first worker started an item");
      const drained = first.drain();
      await second.start();
      const byWorker: Record<number, string> = {};
      for await (const result of job) {
        assert.ok(result.ok, `item ${result.index} failed`);
        byWorker[result.index] = (result.value as { worker: string }).worker;
      }
      const summary = await job.summary;
      await drained;
      assert.deepEqual(byWorker, { 0: "first", 1: "second", 2: "second", 3: "second" });
      assert.equal(summary.requeued, 3);
      assert.deepEqual(first.stats, { started: 1, completed: 1, cancelled: 0, givenBack: 3 });
      assert.equal(first.error, undefined);
      const names = (await client.status()).workers.map((w) => w.name);
      assert.deepEqual(names, ["second"]);
    } finally {
      await first.stop();
      await second.stop();
      client.close();
      await server.stop();
    }
  });
});

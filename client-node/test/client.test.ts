/** A job submitted from Node, served by a Node worker: results, order, window and errors. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Client, EmbeddedServer, EncodingError, JobError, NoWorkerError, RemoteError, Worker } from "../src";
import { deadlineUnixMs } from "../src/deadline";
import { Awkward, Echo } from "./expressions";

describe("client and Node worker on the echo engine", () => {
  let server: EmbeddedServer;
  let client: Client;
  let worker: Worker | undefined;

  before(async () => {
    server = await EmbeddedServer.start();
    client = new Client(server.address);
    worker = new Worker(server.address, { expressions: { "test:Echo": new Echo(), "test:Awkward": new Awkward() }, concurrency: 8 });
    await worker.start();
  });

  after(async () => {
    await worker?.drain();
    client?.close();
    await server?.stop();
  });

  it("returns every result, in order when collected by index, within the window", async () => {
    const count = 300;
    const window = 16;
    let pulled = 0;
    let consumed = 0;
    let mostInFlight = 0;
    function* items() {
      for (let i = 0; i < count; i++) {
        pulled += 1;
        mostInFlight = Math.max(mostInFlight, pulled - consumed);
        yield `item-${i}`;
      }
    }
    const job = client.submit({ expression: "test:Echo", batchSize: 8, window, chunkSize: 5 }, items());
    assert.equal((await job.accepted).window, window);
    const results: unknown[] = [];
    for await (const result of job) {
      consumed += 1;
      assert.ok(result.ok, `item ${result.index} failed: ${!result.ok && result.error}`);
      results[result.index] = result.value;
    }
    const summary = await job.summary;
    assert.equal(results.length, count);
    results.forEach((value, i) => assert.deepEqual(value, { input: `item-${i}`, reply: `echo: tag item-${i}` }));
    assert.equal(summary.items, count);
    assert.equal(summary.succeeded, count);
    assert.equal(summary.engine_calls, count);
    assert.ok(mostInFlight <= window, `${mostInFlight} items in flight, window ${window}`);
  });

  it("maps a bad JobSpec to a JobError naming the field", async () => {
    const job = client.submit({ expression: "test:Echo", batchSize: 0 }, ["x"]);
    await assert.rejects(job.summary, (err: unknown) => {
      assert.ok(err instanceof JobError, `got ${err}`);
      assert.equal(err.kind, "invalid_argument");
      assert.equal(err.field, "batch_size");
      assert.equal(err.code, "INVALID_ARGUMENT");
      assert.match(err.message, /batch_size: must be between 1 and 4096, got 0/);
      return true;
    });
    await assert.rejects(client.run({ expression: "test:Echo", window: 2_000_000 }, ["x"]), {
      name: "JobError",
      kind: "invalid_argument",
      field: "window",
    });
  });

  it("maps a refused worker registration to a JobError naming the field", async () => {
    const refused = new Worker(server.address, { expressions: { "test:Echo": new Echo() }, concurrency: 5000 });
    await assert.rejects(refused.start(), { name: "JobError", kind: "invalid_argument", field: "concurrency" });
    await refused.closed;
  });

  it("maps an expression nobody serves to NoWorkerError", async () => {
    await assert.rejects(client.run({ expression: "nobody:Serves", workerWaitMs: 100 }, ["x"]), (err: unknown) => {
      assert.ok(err instanceof NoWorkerError, `got ${err}`);
      assert.equal(err.kind, "no_worker");
      assert.equal(err.expression, "nobody:Serves");
      assert.equal(err.waitedMs, 100);
      assert.match(err.message, new RegExp(`--server ${server.address.replace(/\./g, "\\.")}`));
      return true;
    });
  });

  it("puts a failed item's error in its place and passes kwargs", async () => {
    const { results, summary } = await client.run(
      { expression: "test:Awkward", kwargs: { temperature: 0.5 } },
      ["fine", "raise", "bigint"],
    );
    assert.deepEqual(results[0], { input: "fine", kwargs: { temperature: 0.5 } });
    assert.ok(results[1] instanceof RemoteError);
    assert.equal(results[1].typeName, "TypeError");
    assert.equal(results[1].remoteMessage, "not this one");
    assert.match(results[1].traceback, /Awkward\.forward/);
    assert.ok(results[2] instanceof EncodingError);
    assert.match(results[2].message, /result of item 2 cannot be encoded as JSON/);
    assert.equal(summary.failed, 2);
  });

  it("sends a deadline as JobSpec.deadline_unix_ms, which the server checks", async () => {
    // Milliseconds since the epoch: the server refuses a deadline in the
    // past, or more than 366 days ahead (a value in s or in µs would be).
    for (const options of [{ deadlineMs: 60_000 }, { deadline: new Date(Date.now() + 3_600_000) }]) {
      const { results, summary } = await client.run({ expression: "test:Echo", ...options }, ["x"]);
      assert.deepEqual(results, [{ input: "x", reply: "echo: tag x" }]);
      assert.equal(summary.succeeded, 1);
    }
    await assert.rejects(client.run({ expression: "test:Echo", deadlineMs: -60_000 }, ["x"]), (err: unknown) => {
      assert.ok(err instanceof JobError, `got ${err}`);
      assert.equal(err.field, "deadline_unix_ms");
      assert.match(err.message, /deadline_unix_ms: must be in the future/);
      return true;
    });
    const farAhead = new Date(Date.now() + 400 * 24 * 3600 * 1000);
    await assert.rejects(client.run({ expression: "test:Echo", deadline: farAhead }, ["x"]), {
      name: "JobError",
      field: "deadline_unix_ms",
      message: /at most 366 days ahead/,
    });
  });

  it("refuses deadline options that are no time before opening the job", () => {
    const both = { expression: "test:Echo", deadline: new Date(), deadlineMs: 1000 };
    assert.throws(() => client.submit(both, ["x"]), {
      name: "RangeError",
      message: "deadline, deadlineMs: set one of them, not both",
    });
    assert.throws(() => client.submit({ expression: "test:Echo", deadlineMs: Number.NaN }, ["x"]), {
      name: "RangeError",
      message: /^deadlineMs: must be a finite number of milliseconds, got NaN/,
    });
    assert.throws(() => client.submit({ expression: "test:Echo", deadline: new Date("never") }, ["x"]), {
      name: "RangeError",
      message: /^deadline: must be a valid Date/,
    });
    const notADate = { expression: "test:Echo", deadline: "2030-01-01" as unknown as Date };
    assert.throws(() => client.submit(notADate, ["x"]), { name: "TypeError", message: "deadline: must be a Date, got string" });
  });
});

describe("deadlineUnixMs", () => {
  it("is the Date's time, or the milliseconds from now, rounded; unset without either", () => {
    const now = 1_765_000_000_000;
    assert.equal(deadlineUnixMs({ deadlineMs: 1500.4 }, now), now + 1500);
    assert.equal(deadlineUnixMs({ deadline: new Date(now + 90_000) }, now), now + 90_000);
    assert.equal(deadlineUnixMs({}, now), undefined);
    // The server says why a past deadline is refused; none is negative.
    assert.equal(deadlineUnixMs({ deadlineMs: -2 * now }, now), 0);
  });
});

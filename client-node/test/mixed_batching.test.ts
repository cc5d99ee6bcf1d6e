/**
 * A TypeScript forward() and a Python forward() serving one job: their engine
 * calls share batches. Each worker runs 8 items at a time and each item has
 * at most one call outstanding, so a worker alone never has more than 8 calls
 * waiting: batches larger than 8 (mean batch size above 8) hold both workers'
 * calls.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Client, EmbeddedServer, Worker } from "../src";
import { PythonWorker, waitForWorkers } from "../examples/python_worker";
import { TWO_QUERIES, TwoQueries } from "../examples/two_queries";

const CONCURRENCY = 8;
const ITEMS = 96;

describe("a Node worker and a Python worker serving one job", () => {
  let server: EmbeddedServer | undefined;
  let client: Client | undefined;
  let python: PythonWorker | undefined;
  let node: Worker | undefined;

  before(async () => {
    server = await EmbeddedServer.start({ args: ["--echo-latency-ms", "50"] });
    const address = server.address;
    client = new Client(address);
    python = PythonWorker.start(address, TWO_QUERIES, "python", ["--concurrency", String(CONCURRENCY)]);
    node = new Worker(address, { expressions: { [TWO_QUERIES]: new TwoQueries() }, concurrency: CONCURRENCY, name: "node" });
    await node.start();
    await waitForWorkers(client, ["python", "node"], { processes: [python] });
  });

  after(async () => {
    try {
      await node?.drain();
      const status = await python?.stop();
      if (python !== undefined) assert.equal(status, 0, `symbatcher worker exited with ${status}:\n${python.stderr}`);
    } finally {
      client?.close();
      await server?.stop();
    }
  });

  it("batches both workers' engine calls together", async (t) => {
    const items = Array.from({ length: ITEMS }, (_, i) => `item ${i}`);
    const { results, summary } = await client!.run(
      { expression: TWO_QUERIES, batchSize: 16, maxQueueDelayMs: 200 },
      items,
    );
    const ranBy = { node: 0, python: 0 };
    results.forEach((result, i) => {
      assert.ok(!(result instanceof Error), `item ${i}: ${result}`);
      const { input, worker, replies } = result as { input: string; worker: "node" | "python"; replies: string[] };
      assert.equal(input, items[i]);
      assert.equal(replies.length, 2);
      for (const reply of replies) assert.match(reply, /^echo: .*item \d+/s);
      ranBy[worker] += 1;
    });
    t.diagnostic(
      `node ran ${ranBy.node} items, python ${ranBy.python}; ${summary.engine_calls} engine calls in ` +
        `${summary.engine_batches} batches, mean batch size ${summary.mean_batch_size.toFixed(2)}`,
    );
    assert.ok(ranBy.node > 0 && ranBy.python > 0, `both workers ran items: ${JSON.stringify(ranBy)}`);
    assert.equal(summary.engine_calls, 2 * ITEMS);
    assert.ok(
      summary.mean_batch_size > CONCURRENCY,
      `mean batch size ${summary.mean_batch_size} is not above one worker's ${CONCURRENCY} calls`,
    );
    assert.equal(Math.round(summary.engine_batches * summary.mean_batch_size), summary.engine_calls);
  });
});

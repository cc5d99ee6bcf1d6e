/**
 * One job, two languages: its items are served partly by a Python worker
 * (`symbatcher worker two_queries:TwoQueries`) and partly by a Node worker
 * registered under the same name, through one server that batches both
 * workers' engine calls together.
 *
 *     make install && cd client-node && npm ci && npm run build
 *     node dist/examples/polyglot.js [--server HOST:PORT] [--items 64]
 *
 * Without --server it starts target/release/symbatcher-server (echo engine,
 * 50 ms per batch) and stops it at the end.
 */
import { parseArgs } from "node:util";

import { Client, EmbeddedServer, Worker } from "../src";
import { PythonWorker, waitForWorkers } from "./python_worker";
import { TWO_QUERIES, TwoQueries } from "./two_queries";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { server: { type: "string" }, items: { type: "string", default: "64" } },
  });
  const count = Number(values.items);
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`--items: must be a positive integer, got ${values.items}`);
  const server = values.server ? undefined : await EmbeddedServer.start({ args: ["--echo-latency-ms", "50"] });
  const address = values.server ?? server!.address;
  console.log(`server at ${address}`);
  const client = new Client(address);
  const node = new Worker(address, { expressions: { [TWO_QUERIES]: new TwoQueries() }, concurrency: 8, name: "node-worker" });
  // Everything started from here on is stopped in `finally`, whatever fails
  // (a missing Python worker included), so the process exits.
  let python: PythonWorker | undefined;
  try {
    python = PythonWorker.start(address, TWO_QUERIES, "python-worker", ["--concurrency", "8"]);
    await node.start();
    await waitForWorkers(client, ["python-worker", "node-worker"], { processes: [python] });
    const items = Array.from({ length: count }, (_, i) => `item ${i}`);
    const { results, summary } = await client.run({ expression: TWO_QUERIES, batchSize: 16, maxQueueDelayMs: 200 }, items);
    const ranBy: Record<string, number[]> = {};
    results.forEach((result, index) => {
      if (result instanceof Error) throw result;
      const worker = (result as { worker: string }).worker;
      (ranBy[worker] ??= []).push(index);
    });
    for (const [worker, indices] of Object.entries(ranBy)) {
      console.log(`${worker} ran ${indices.length} items: ${indices.join(" ")}`);
    }
    console.log(`item 0: ${JSON.stringify(results[0])}`);
    console.log(
      `${summary.items} items, ${summary.engine_calls} engine calls in ${summary.engine_batches} batches ` +
        `(mean ${summary.mean_batch_size.toFixed(1)}), ${summary.wall_seconds.toFixed(2)} s`,
    );
  } finally {
    await node.drain();
    if (python) console.log(`python worker exited with status ${await python.stop()}`);
    client.close();
    await server?.stop();
  }
}

main().catch((err: Error) => {
  console.error(err);
  process.exitCode = 1;
});

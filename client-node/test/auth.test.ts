/** A server that requires a token: the Node client and worker present it, and a wrong one is refused. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Client, EmbeddedServer, JobError, TOKEN_ENV, Worker } from "../src";
import { Echo } from "./expressions";

const TOKEN = "node-test-token-0123456789abcdef";

describe("authentication", () => {
  let server: EmbeddedServer;
  let saved: string | undefined;

  before(async () => {
    saved = process.env[TOKEN_ENV];
    process.env[TOKEN_ENV] = TOKEN; // the server reads it at start, the clients by default
    server = await EmbeddedServer.start();
  });

  after(async () => {
    await server?.stop();
    if (saved === undefined) delete process.env[TOKEN_ENV];
    else process.env[TOKEN_ENV] = saved;
  });

  it("runs a job when client and worker present the token", async () => {
    const worker = new Worker(server.address, { expressions: { "test:Echo": new Echo() }, concurrency: 4 });
    const client = new Client(server.address);
    try {
      await worker.start();
      const { results, summary } = await client.run({ expression: "test:Echo", batchSize: 4 }, ["a", "b", "c"]);
      assert.equal(results.length, 3);
      assert.equal(summary.succeeded, 3);
    } finally {
      await worker.drain();
      client.close();
    }
  });

  it("refuses a client with a wrong token as unauthenticated", async () => {
    const client = new Client(server.address, { token: "not-the-token-0123456789" });
    try {
      await assert.rejects(
        client.run({ expression: "test:Echo", batchSize: 4 }, ["a"]),
        (err: unknown) => err instanceof JobError && err.code === "UNAUTHENTICATED",
      );
    } finally {
      client.close();
    }
  });
});

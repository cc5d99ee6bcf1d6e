/** TLS: a server started with --tls-cert/--tls-key and a token serves a Node client and worker that verify it against a CA (tlsCa) and send the token; a client that does not speak TLS, or does not trust the CA, fails. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

import { Client, EmbeddedServer, JobError, ServerUnavailableError, Worker } from "../src";
import { certificates } from "./certificates";
import { Echo } from "./expressions";

const TOKEN = "node-tls-test-token-0123456789abcdef";

describe("TLS", () => {
  let dir: string;
  let certs: ReturnType<typeof certificates>;
  let server: EmbeddedServer;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "symbatcher-tls-"));
    certs = certificates(dir);
    const tokenFile = path.join(dir, "token");
    fs.writeFileSync(tokenFile, TOKEN);
    server = await EmbeddedServer.start({
      args: ["--tls-cert", certs.cert, "--tls-key", certs.key, "--auth-token-file", tokenFile],
    });
  });

  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs a job when client and worker trust the CA and send the token", async () => {
    const options = { token: TOKEN, tlsCa: certs.ca };
    const worker = new Worker(server.address, { expressions: { "test:Echo": new Echo() }, concurrency: 2, ...options });
    const client = new Client(server.address, options);
    try {
      await worker.start();
      const { results, summary } = await client.run({ expression: "test:Echo", batchSize: 2 }, ["a", "b", "c"]);
      assert.equal(summary.succeeded, 3);
      assert.deepEqual(results.map((r) => (r as { input: unknown }).input), ["a", "b", "c"]);
    } finally {
      await worker.drain();
      client.close();
    }
  });

  it("refuses the token's absence over TLS", async () => {
    const client = new Client(server.address, { token: "", tlsCa: certs.ca });
    try {
      await assert.rejects(client.status(), (err: unknown) => {
        assert.ok(err instanceof JobError, `got ${err}`);
        assert.equal(err.code, "UNAUTHENTICATED");
        return true;
      });
    } finally {
      client.close();
    }
  });

  it("fails for a client that does not speak TLS", async () => {
    const client = new Client(server.address, { token: TOKEN });
    try {
      await assert.rejects(client.status(), ServerUnavailableError);
    } finally {
      client.close();
    }
  });

  it("fails for a client that does not trust the server's CA (tls with the system's CAs)", async () => {
    const client = new Client(server.address, { token: TOKEN, tls: true });
    try {
      await assert.rejects(client.status(), ServerUnavailableError);
    } finally {
      client.close();
    }
  });
});

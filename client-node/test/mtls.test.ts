/** Mutual TLS: a server started with --tls-client-ca serves a Node client and worker that present a client certificate, and refuses a client that presents none. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

import { Client, EmbeddedServer, Worker } from "../src";
import { certificates } from "./certificates";
import { Echo } from "./expressions";

describe("mutual TLS", () => {
  let dir: string;
  let certs: ReturnType<typeof certificates>;
  let server: EmbeddedServer;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "symbatcher-mtls-"));
    certs = certificates(dir);
    server = await EmbeddedServer.start({
      args: ["--tls-cert", certs.cert, "--tls-key", certs.key, "--tls-client-ca", certs.ca],
    });
  });

  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs a job when client and worker present a client certificate", async () => {
    const tls = { tlsCa: certs.ca, tlsClientCert: certs.clientCert, tlsClientKey: certs.clientKey };
    const worker = new Worker(server.address, { expressions: { "test:Echo": new Echo() }, concurrency: 2, ...tls });
    const client = new Client(server.address, tls);
    try {
      await worker.start();
      const { results, summary } = await client.run({ expression: "test:Echo", batchSize: 2 }, ["a", "b"]);
      assert.equal(summary.succeeded, 2);
      assert.deepEqual(results.map((r) => (r as { input: unknown }).input), ["a", "b"]);
    } finally {
      await worker.drain();
      client.close();
    }
  });

  it("is refused without a client certificate", async () => {
    const client = new Client(server.address, { tlsCa: certs.ca });
    try {
      await assert.rejects(client.status());
    } finally {
      client.close();
    }
  });

  it("needs the client key with the client certificate, naming both", () => {
    assert.throws(
      () => new Client(server.address, { tlsCa: certs.ca, tlsClientCert: certs.clientCert }),
      /tlsClientCert: needs tlsClientKey/,
    );
  });
});

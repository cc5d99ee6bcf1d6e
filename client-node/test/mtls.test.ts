/** Mutual TLS: a server started with --tls-client-ca serves a Node client and worker that present a client certificate, and refuses a client that presents none. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

import { Client, EmbeddedServer, Worker } from "../src";
import { Echo } from "./expressions";

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI in `dir`. */
function certificates(dir: string): Record<"ca" | "cert" | "key" | "clientCert" | "clientKey", string> {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", file("ca.key"), "-out", file("ca.pem"), "-days", "1",
    "-subj", "/CN=symbatcher test CA", "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  const sign = (name: string, subject: string, extensions: string) => {
    fs.writeFileSync(file(`${name}.ext`), extensions);
    openssl("req", ...ec, "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", subject);
    openssl("x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
      "-set_serial", String(Date.now()), "-days", "1", "-out", file(`${name}.pem`), "-extfile", file(`${name}.ext`));
  };
  sign("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  sign("client", "/CN=node client", "extendedKeyUsage=clientAuth\n");
  return {
    ca: file("ca.pem"), cert: file("server.pem"), key: file("server.key"),
    clientCert: file("client.pem"), clientKey: file("client.key"),
  };
}

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

/**
 * The package leaves the repository: `npm pack`, install the tarball into a
 * temporary directory outside the repository, and run a job from there with
 * the installed package alone (its own protos) against the release server on
 * the echo engine. Run by `npm run test:packed` (make test-node), after the
 * other tests: `npm pack` rebuilds dist/ (its `prepare` script).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

import { serverBinary } from "../../src";

/** client-node/ (this file is dist/test/packed/packed.test.js). */
const PACKAGE_DIR = path.resolve(__dirname, "..", "..", "..");

/** What a user of the installed package writes: a worker and a client through one server. */
const APP = `"use strict";
const path = require("node:path");
const { Client, EmbeddedServer, Worker } = require("symbatcher");

const echo = { forward: async (input, _kwargs, ctx) => ({ input, reply: await ctx.query("tag " + input) }) };

async function main() {
  const server = await EmbeddedServer.start();
  const worker = new Worker(server.address, { expressions: { "packed:Echo": echo }, concurrency: 4 });
  const client = new Client(server.address);
  try {
    await worker.start();
    const { results, summary } = await client.run({ expression: "packed:Echo", batchSize: 4 }, ["a", "b", "c", "d", "e"]);
    const resolved = require.resolve("symbatcher");
    console.log(JSON.stringify({ results, succeeded: summary.succeeded, resolved }));
  } finally {
    await worker.drain();
    client.close();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;

/** This environment without what `npm run` adds (npm_config_*, npm_package_*...), as a user's shell has it. */
function userEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith("npm_")));
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = userEnv()): string {
  return execFileSync(command, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 180_000 });
}

describe("the packed package, installed outside the repository", () => {
  let dir: string;
  let app: string;
  let tarball: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "symbatcher-packed-"));
    app = path.join(dir, "app");
    fs.mkdirSync(app);
    run("npm", ["pack", "--silent", "--pack-destination", dir], PACKAGE_DIR);
    const tarballs = fs.readdirSync(dir).filter((name) => name.endsWith(".tgz"));
    assert.equal(tarballs.length, 1, `npm pack wrote ${tarballs.join(", ") || "no tarball"}`);
    tarball = path.join(dir, tarballs[0]);
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "packed-app", private: true }));
    // Dependencies come from npm's cache (filled by `npm ci`), the registry only if missing.
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], app);
    fs.writeFileSync(path.join(app, "app.js"), APP);
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("ships its protos and compiled code, not the tests", () => {
    const files = run("tar", ["-tzf", tarball], dir).split("\n");
    for (const file of ["proto/symbatcher/v1/batch.proto", "proto/symbatcher/v1/common.proto", "dist/src/index.js", "dist/src/index.d.ts"]) {
      assert.ok(files.includes(`package/${file}`), `${file} is not in the tarball`);
    }
    assert.ok(!files.some((file) => file.startsWith("package/dist/test/")), "the tests are in the tarball");
  });

  it("runs a job from the temporary directory", () => {
    const env: NodeJS.ProcessEnv = { ...userEnv(), SYMBATCHER_SERVER_BIN: serverBinary() };
    delete env.SYMBATCHER_PROTO_DIR; // the installed package's own protos
    const output = JSON.parse(run(process.execPath, ["app.js"], app, env)) as {
      results: unknown[];
      succeeded: number;
      resolved: string;
    };
    assert.equal(output.resolved, path.join(fs.realpathSync(app), "node_modules", "symbatcher", "dist", "src", "index.js"));
    assert.equal(output.succeeded, 5);
    assert.deepEqual(
      output.results,
      ["a", "b", "c", "d", "e"].map((input) => ({ input, reply: `echo: tag ${input}` })),
    );
  });
});

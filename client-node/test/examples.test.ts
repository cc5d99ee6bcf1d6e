/** The examples as a user runs them: a setup error ends the process. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";

describe("examples", () => {
  it("polyglot exits with status 1 and the error when the Python worker cannot start", () => {
    // Before, the embedded server it had started kept the process alive.
    const script = path.resolve(__dirname, "..", "examples", "polyglot.js");
    const run = spawnSync(process.execPath, [script, "--items", "4"], {
      env: { ...process.env, SYMBATCHER_PYTHON_WORKER: "/nonexistent/symbatcher" },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(run.error, undefined, `did not exit within 30 s: ${run.error}`);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /\/nonexistent\/symbatcher not found: run `make install`/);
  });
});

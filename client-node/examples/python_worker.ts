/**
 * Runs `symbatcher worker` (the Python worker, from the repository's .venv
 * after `make install`) serving this directory's Python expressions, and
 * waits for workers to register with the server.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

import type { Client } from "../src";

/** `symbatcher`: `$SYMBATCHER_PYTHON_WORKER`, else the repository's .venv/bin/symbatcher. */
export function pythonWorkerCommand(): string {
  return (
    process.env.SYMBATCHER_PYTHON_WORKER ||
    path.resolve(__dirname, "..", "..", "..", ".venv", "bin", "symbatcher")
  );
}

/** The Python source directory (this directory, in the source tree). */
const APP_DIR = path.resolve(__dirname, "..", "..", "examples");

export class PythonWorker {
  private readonly output: string[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.setEncoding("utf8").on("data", (text: string) => {
      this.output.push(text);
      if (this.output.length > 50) this.output.shift();
    });
  }

  /** Starts `symbatcher worker EXPRESSION --server ADDRESS --name NAME ...args`. */
  static start(address: string, expression: string, name: string, args: string[] = []): PythonWorker {
    const command = pythonWorkerCommand();
    if (!fs.existsSync(command)) {
      throw new Error(`${command} not found: run \`make install\` or set SYMBATCHER_PYTHON_WORKER`);
    }
    const child = spawn(
      command,
      ["worker", expression, "--server", address, "--name", name, "--app-dir", APP_DIR, "--log-level", "WARNING", ...args],
      { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } },
    );
    return new PythonWorker(child);
  }

  /** What the worker wrote to stderr lately (for error messages). */
  get stderr(): string {
    return this.output.join("");
  }

  /** Throws, with its output, if the worker process has exited. */
  assertRunning(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      const how = this.child.signalCode ?? `status ${this.child.exitCode}`;
      throw new Error(`symbatcher worker exited (${how}):\n${this.stderr}`);
    }
  }

  /** Drains it (SIGTERM: running items finish, queued ones go back) and waits for it to exit. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once("exit", (code) => resolve(code)));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 20_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

/** Waits until workers with every one of `names` are registered (up to `timeoutMs`). */
export async function waitForWorkers(
  client: Client,
  names: string[],
  options: { timeoutMs?: number; processes?: PythonWorker[] } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const process of options.processes ?? []) process.assertRunning();
    const registered = new Set((await client.status()).workers.map((w) => w.name));
    if (names.every((name) => registered.has(name))) return;
    if (Date.now() > deadline) {
      throw new Error(`workers ${names.join(", ")} did not register in ${timeoutMs} ms (seen: ${[...registered].join(", ")})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

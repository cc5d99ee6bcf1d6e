/**
 * Starts a `symbatcher-server` child process on a free loopback port, as the
 * Python client's embedded server does: it dies with this process (it
 * watches its standard input, held by this process).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";

import { ServerStartError } from "./errors";

/** The server binary: `$SYMBATCHER_SERVER_BIN`, else the repository's target/release build. */
export function serverBinary(): string {
  return (
    process.env.SYMBATCHER_SERVER_BIN ||
    path.resolve(__dirname, "..", "..", "..", "target", "release", "symbatcher-server")
  );
}

export interface ServerOptions {
  /** Extra flags, e.g. ["--echo-latency-ms", "50"]. */
  args?: string[];
  /** The binary (default: serverBinary()). */
  binary?: string;
  /** How long to wait for `listening on ADDR`, in ms (default 20000). */
  startTimeoutMs?: number;
}

/** A running server process. */
export class EmbeddedServer {
  private constructor(
    readonly address: string,
    private readonly child: ChildProcess,
  ) {}

  /** Starts the server and resolves once it listens. */
  static async start(options: ServerOptions = {}): Promise<EmbeddedServer> {
    const binary = options.binary ?? serverBinary();
    if (!fs.existsSync(binary)) {
      throw new ServerStartError(
        `symbatcher-server not found at ${binary}: build it with \`cargo build --release\` ` +
          "or set SYMBATCHER_SERVER_BIN",
      );
    }
    const args = ["--listen", "127.0.0.1:0", "--exit-with-stdin", ...(options.args ?? [])];
    const child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    const stderr: string[] = [];
    child.stderr!.setEncoding("utf8").on("data", (text: string) => {
      stderr.push(text);
      if (stderr.length > 50) stderr.shift();
    });
    const lines = readline.createInterface({ input: child.stdout! });
    const address = await new Promise<string>((resolve, reject) => {
      const fail = (why: string) => {
        child.kill("SIGKILL");
        reject(new ServerStartError(`symbatcher-server did not start: ${why}\n${stderr.join("")}`));
      };
      const timer = setTimeout(() => fail("no `listening on` line in time"), options.startTimeoutMs ?? 20_000);
      lines.on("line", (line) => {
        const match = /^listening on (\S+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        fail(`it exited (${signal ?? `status ${code}`})`);
      });
      child.once("error", (err) => {
        clearTimeout(timer);
        fail(err.message);
      });
    });
    child.removeAllListeners("exit");
    return new EmbeddedServer(address, child);
  }

  /** Stops the server (closing its standard input) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

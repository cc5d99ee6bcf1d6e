/** Expressions the tests serve from Node workers. */
import type { Expression, ForwardContext } from "../src";

/** One engine call per item. */
export class Echo implements Expression {
  async forward(input: unknown, _kwargs: Record<string, unknown>, ctx: ForwardContext): Promise<unknown> {
    return { input, reply: await ctx.query(`tag ${String(input)}`) };
  }
}

/** Fails or returns a non-JSON value for some inputs; echoes its kwargs otherwise. */
export class Awkward implements Expression {
  forward(input: unknown, kwargs: Record<string, unknown>): unknown {
    if (input === "raise") throw new TypeError("not this one");
    if (input === "bigint") return 10n;
    return { input, kwargs };
  }
}

/** Waits `delayMs` (kwarg, default 300) without engine calls; tells which worker ran it. */
export class Slow implements Expression {
  constructor(private readonly worker: string) {}

  async forward(input: unknown, kwargs: Record<string, unknown>, ctx: ForwardContext): Promise<unknown> {
    const delayMs = typeof kwargs.delayMs === "number" ? kwargs.delayMs : 300;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    return { input, worker: this.worker, aborted: ctx.signal.aborted };
  }
}

/** One engine call; records how and when it ended, for the cancellation test. */
export class Watched implements Expression {
  readonly started: number[] = [];
  readonly outcomes: Array<{ index: number; error: string; at: number; aborted: boolean }> = [];

  async forward(input: unknown, _kwargs: Record<string, unknown>, ctx: ForwardContext): Promise<unknown> {
    this.started.push(ctx.index);
    try {
      return await ctx.query(String(input));
    } catch (err) {
      this.outcomes.push({ index: ctx.index, error: (err as Error).name, at: Date.now(), aborted: ctx.signal.aborted });
      throw err;
    }
  }
}

export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The TypeScript half of the polyglot example: the same expression as
 * two_queries.py (two engine calls per item), registered under the name the
 * Python worker registers, so that one job's items go to both.
 */
import type { Expression, ForwardContext } from "../src";

/** The name both workers register: Python's `module:QualName`. */
export const TWO_QUERIES = "two_queries:TwoQueries";

export class TwoQueries implements Expression {
  async forward(input: unknown, kwargs: Record<string, unknown>, ctx: ForwardContext): Promise<unknown> {
    const first = await ctx.query(`${String(input)}\nFirst question`, { kwargs });
    const second = await ctx.query(`${String(input)}\nSecond question`, { kwargs });
    return { input, worker: "node", pid: process.pid, replies: [first, second] };
  }
}

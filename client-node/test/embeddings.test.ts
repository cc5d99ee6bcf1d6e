/**
 * `ctx.embed` in a Node forward(): embedding calls of every running item
 * merged by the server's openai-embeddings engine into one request to a
 * loopback fake of OpenAI's embeddings API, each item getting its own
 * vector; a job naming an engine of another kind is refused.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import { Client, EmbeddedServer, Worker } from "../src";
import type { ForwardContext } from "../src";

const EXPRESSION = "tests.node:Embed";
const ITEMS = 16;

/** The fake's vector of a text: its length and its first char code. */
function vectorOf(text: string): number[] {
  return [text.length, text.charCodeAt(0) / 7];
}

describe("ctx.embed through the openai-embeddings engine", () => {
  let fake: http.Server | undefined;
  const requests: string[][] = [];
  let server: EmbeddedServer | undefined;
  let client: Client | undefined;
  let worker: Worker | undefined;

  before(async () => {
    fake = http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        const input = (JSON.parse(body) as { input: string[] }).input;
        requests.push(input);
        const data = input.map((text, index) => ({ object: "embedding", index, embedding: vectorOf(text) }));
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ object: "list", data, model: "e", usage: { prompt_tokens: input.length, total_tokens: input.length } }));
      });
    });
    await new Promise<void>((resolve) => fake!.listen(0, "127.0.0.1", resolve));
    const port = (fake.address() as AddressInfo).port;
    const toml = `[engines.embed]\nkind = "openai-embeddings"\nbase_url = "http://127.0.0.1:${port}/v1"\napi_key_env = ""\n`;
    server = await EmbeddedServer.start({ args: ["--config-toml", toml] });
    client = new Client(server.address);
    worker = new Worker(server.address, {
      expressions: {
        [EXPRESSION]: {
          forward: async (input: unknown, _kwargs: Record<string, unknown>, ctx: ForwardContext) =>
            (await ctx.embed(String(input))).vectors,
        },
      },
      concurrency: ITEMS,
    });
    await worker.start();
  });

  after(async () => {
    await worker?.drain();
    client?.close();
    await server?.stop();
    fake?.close();
  });

  it("merges every item's call into one request and returns each its vector", async () => {
    const items = Array.from({ length: ITEMS }, (_, i) => `text ${i}`);
    const { results, summary } = await client!.run({ expression: EXPRESSION, batchSize: ITEMS }, items);
    results.forEach((result, i) => assert.deepEqual(result, [vectorOf(items[i])]));
    assert.equal(requests.length, 1);
    assert.equal(requests[0].length, ITEMS);
    assert.equal(summary.embedding_engine, "embed");
  });

  it("refuses a job whose embedding engine answers another kind of call", async () => {
    await assert.rejects(
      client!.run({ expression: EXPRESSION, batchSize: 1, embeddingEngine: "echo" }, ["x"]),
      /embedding_engine: engine "echo" answers neurosymbolic calls, not embedding calls/,
    );
  });
});

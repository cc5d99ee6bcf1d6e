// Original file: ../proto/symbatcher/v1/status.proto

import type { LatencyPercentiles as _symbatcher_v1_LatencyPercentiles, LatencyPercentiles__Output as _symbatcher_v1_LatencyPercentiles__Output } from '../../symbatcher/v1/LatencyPercentiles';
import type { Long } from '@grpc/proto-loader';

/**
 * One engine and what it has done since it started or connected.
 */
export interface EngineStatus {
  /**
   * Name jobs select it by.
   */
  'name'?: (string);
  /**
   * "echo", "python" (a connected engine process) or "openai".
   */
  'kind'?: (string);
  /**
   * Batches in flight at most; 0: no cap, so batches in flight follow the
   * worker slots calling the engine (openai engines, and connected engines
   * registered without max_concurrency). An openai engine's requests are
   * bounded by concurrency_limit.
   */
  'max_concurrency'?: (number);
  /**
   * Batches in flight now.
   */
  'in_flight'?: (number);
  /**
   * Batches answered.
   */
  'batches'?: (number | string | Long);
  /**
   * Calls in those batches.
   */
  'calls'?: (number | string | Long);
  /**
   * Batches that failed as a whole.
   */
  'failed_batches'?: (number | string | Long);
  /**
   * Engine requests sent again after a retryable failure.
   */
  'retries'?: (number | string | Long);
  /**
   * 429 responses.
   */
  'rate_limited'?: (number | string | Long);
  /**
   * Prompt tokens, summed from the engine's reported usage.
   */
  'prompt_tokens'?: (number | string | Long);
  /**
   * Completion tokens, summed from the engine's reported usage.
   */
  'completion_tokens'?: (number | string | Long);
  /**
   * Calls answered with an error.
   */
  'failed_calls'?: (number | string | Long);
  /**
   * Latency of its calls.
   */
  'latency'?: (_symbatcher_v1_LatencyPercentiles | null);
  /**
   * Largest batch formed for this engine, in calls (jobs may ask for less).
   */
  'max_batch_size'?: (number);
  /**
   * Default model of the engine, for engines that call a provider (openai);
   * empty where it does not apply.
   */
  'model'?: (string);
  /**
   * Requests per minute the engine sends at most; 0: unlimited or not
   * applicable.
   */
  'rpm'?: (number);
  /**
   * Tokens per minute the engine spends at most; 0: unlimited or not
   * applicable.
   */
  'tpm'?: (number | string | Long);
  /**
   * Requests the engine lets run at once now (openai): shrinks after 429s,
   * recovers with successes, never above the engine's max_concurrency. 0:
   * no limit (an openai engine without max_concurrency, before any 429), and
   * for the other kinds.
   */
  'concurrency_limit'?: (number);
  /**
   * HTTP requests running now (openai).
   */
  'requests_in_flight'?: (number);
  /**
   * Calls waiting for a rate-limit slot (openai).
   */
  'requests_waiting'?: (number);
  /**
   * The engine process disconnected and its name waits for an engine to
   * register again (the server's --engine-reconnect-grace-ms): its calls
   * wait until then, and fail after it.
   */
  'reconnecting'?: (boolean);
  /**
   * The kind of call it answers: "neurosymbolic" (chat) or "embedding".
   */
  'call_kind'?: (string);
  /**
   * Cost in US dollars of requests billed twice since the server started:
   * a hedged provider batch's copies completed after their calls had been
   * answered online (see JobSummary.billed_twice_usd), whether or not their
   * job was still running. Their tokens are in prompt_tokens and
   * completion_tokens.
   */
  'billed_twice_usd'?: (number | string);
}

/**
 * One engine and what it has done since it started or connected.
 */
export interface EngineStatus__Output {
  /**
   * Name jobs select it by.
   */
  'name': (string);
  /**
   * "echo", "python" (a connected engine process) or "openai".
   */
  'kind': (string);
  /**
   * Batches in flight at most; 0: no cap, so batches in flight follow the
   * worker slots calling the engine (openai engines, and connected engines
   * registered without max_concurrency). An openai engine's requests are
   * bounded by concurrency_limit.
   */
  'max_concurrency': (number);
  /**
   * Batches in flight now.
   */
  'in_flight': (number);
  /**
   * Batches answered.
   */
  'batches': (number);
  /**
   * Calls in those batches.
   */
  'calls': (number);
  /**
   * Batches that failed as a whole.
   */
  'failed_batches': (number);
  /**
   * Engine requests sent again after a retryable failure.
   */
  'retries': (number);
  /**
   * 429 responses.
   */
  'rate_limited': (number);
  /**
   * Prompt tokens, summed from the engine's reported usage.
   */
  'prompt_tokens': (number);
  /**
   * Completion tokens, summed from the engine's reported usage.
   */
  'completion_tokens': (number);
  /**
   * Calls answered with an error.
   */
  'failed_calls': (number);
  /**
   * Latency of its calls.
   */
  'latency': (_symbatcher_v1_LatencyPercentiles__Output | null);
  /**
   * Largest batch formed for this engine, in calls (jobs may ask for less).
   */
  'max_batch_size': (number);
  /**
   * Default model of the engine, for engines that call a provider (openai);
   * empty where it does not apply.
   */
  'model': (string);
  /**
   * Requests per minute the engine sends at most; 0: unlimited or not
   * applicable.
   */
  'rpm': (number);
  /**
   * Tokens per minute the engine spends at most; 0: unlimited or not
   * applicable.
   */
  'tpm': (number);
  /**
   * Requests the engine lets run at once now (openai): shrinks after 429s,
   * recovers with successes, never above the engine's max_concurrency. 0:
   * no limit (an openai engine without max_concurrency, before any 429), and
   * for the other kinds.
   */
  'concurrency_limit': (number);
  /**
   * HTTP requests running now (openai).
   */
  'requests_in_flight': (number);
  /**
   * Calls waiting for a rate-limit slot (openai).
   */
  'requests_waiting': (number);
  /**
   * The engine process disconnected and its name waits for an engine to
   * register again (the server's --engine-reconnect-grace-ms): its calls
   * wait until then, and fail after it.
   */
  'reconnecting': (boolean);
  /**
   * The kind of call it answers: "neurosymbolic" (chat) or "embedding".
   */
  'call_kind': (string);
  /**
   * Cost in US dollars of requests billed twice since the server started:
   * a hedged provider batch's copies completed after their calls had been
   * answered online (see JobSummary.billed_twice_usd), whether or not their
   * job was still running. Their tokens are in prompt_tokens and
   * completion_tokens.
   */
  'billed_twice_usd': (number);
}

// Original file: ../proto/symbatcher/v1/batch.proto

import type { LatencyPercentiles as _symbatcher_v1_LatencyPercentiles, LatencyPercentiles__Output as _symbatcher_v1_LatencyPercentiles__Output } from '../../symbatcher/v1/LatencyPercentiles';
import type { Usage as _symbatcher_v1_Usage, Usage__Output as _symbatcher_v1_Usage__Output } from '../../symbatcher/v1/Usage';
import type { StepRoutes as _symbatcher_v1_StepRoutes, StepRoutes__Output as _symbatcher_v1_StepRoutes__Output } from '../../symbatcher/v1/StepRoutes';
import type { Long } from '@grpc/proto-loader';

/**
 * What a job did. Counts are of this job only.
 */
export interface JobSummary {
  /**
   * Items received.
   */
  'items'?: (number | string | Long);
  /**
   * Items answered with a result.
   */
  'succeeded'?: (number | string | Long);
  /**
   * Items answered with an error.
   */
  'failed'?: (number | string | Long);
  /**
   * Engine calls its workers made, of every kind (embedding_calls of them
   * embedding calls, the others chat calls).
   */
  'engine_calls'?: (number | string | Long);
  /**
   * Engine batches that held at least one of its calls.
   */
  'engine_batches'?: (number | string | Long);
  /**
   * Mean size, in calls, of those batches (counting other jobs' calls in
   * them too); 0 without batches.
   */
  'mean_batch_size'?: (number | string);
  /**
   * Item runs put back in the queue: their worker disconnected, or drained
   * and gave them back.
   */
  'requeued'?: (number | string | Long);
  /**
   * Seconds from the JobSpec's arrival to the last result.
   */
  'wall_seconds'?: (number | string);
  /**
   * Summed wall time of this job's engine batches, in seconds.
   */
  'engine_seconds'?: (number | string);
  /**
   * Mean wait of a call before its batch left, in milliseconds.
   */
  'mean_queue_wait_ms'?: (number | string);
  /**
   * Engine requests sent again after a retryable failure (429, 5xx, timeout,
   * connection error); a call that succeeded on its third try counts 2.
   */
  'retries'?: (number | string | Long);
  /**
   * Engine responses that were 429 Too Many Requests.
   */
  'rate_limited'?: (number | string | Long);
  /**
   * Prompt tokens, summed from the engines' reported usage.
   */
  'prompt_tokens'?: (number | string | Long);
  /**
   * Completion tokens, summed from the engines' reported usage.
   */
  'completion_tokens'?: (number | string | Long);
  /**
   * Engine calls answered with an error.
   */
  'failed_engine_calls'?: (number | string | Long);
  /**
   * Latency of this job's engine calls.
   */
  'engine_latency'?: (_symbatcher_v1_LatencyPercentiles | null);
  /**
   * The engine that answered this job's calls.
   */
  'engine'?: (string);
  /**
   * Cost in US dollars of the requests sent for this job (priced calls).
   */
  'cost_usd'?: (number | string);
  /**
   * Calls answered from the cache or coalesced with an identical call in
   * flight, with the tokens and cost they did not spend.
   */
  'saved'?: (_symbatcher_v1_Usage | null);
  /**
   * Calls sent whose model has no price (their cost is not in cost_usd).
   */
  'unpriced_calls'?: (number | string | Long);
  /**
   * Items that failed with ERROR_KIND_BUDGET_EXCEEDED.
   */
  'budget_exceeded'?: (number | string | Long);
  /**
   * The engine that answered this job's embedding calls; empty: none.
   */
  'embedding_engine'?: (string);
  /**
   * Requests sent for this job by step (the n-th engine call of an item's
   * forward()), in step order: how many went by provider batch and how many
   * online, and what they cost against all online. Empty when no request
   * was sent.
   */
  'steps'?: (_symbatcher_v1_StepRoutes)[];
  /**
   * Of engine_calls, the embedding calls (CALL_KIND_EMBEDDING) its workers
   * made; engine_calls - embedding_calls are chat calls.
   */
  'embedding_calls'?: (number | string | Long);
  /**
   * Of cost_usd, what was billed twice: requests of a hedged provider batch
   * that the provider completed (and billed, at the batch price) after
   * their calls had been answered online, because the batch did not end
   * within the engine's cancel_wait. Each call was answered once; these
   * copies were only paid for. Seen when the batch ends (up to 15 minutes
   * after the cancel), so only while the job runs; later ones count in
   * EngineStatus.billed_twice_usd alone.
   */
  'billed_twice_usd'?: (number | string);
}

/**
 * What a job did. Counts are of this job only.
 */
export interface JobSummary__Output {
  /**
   * Items received.
   */
  'items': (number);
  /**
   * Items answered with a result.
   */
  'succeeded': (number);
  /**
   * Items answered with an error.
   */
  'failed': (number);
  /**
   * Engine calls its workers made, of every kind (embedding_calls of them
   * embedding calls, the others chat calls).
   */
  'engine_calls': (number);
  /**
   * Engine batches that held at least one of its calls.
   */
  'engine_batches': (number);
  /**
   * Mean size, in calls, of those batches (counting other jobs' calls in
   * them too); 0 without batches.
   */
  'mean_batch_size': (number);
  /**
   * Item runs put back in the queue: their worker disconnected, or drained
   * and gave them back.
   */
  'requeued': (number);
  /**
   * Seconds from the JobSpec's arrival to the last result.
   */
  'wall_seconds': (number);
  /**
   * Summed wall time of this job's engine batches, in seconds.
   */
  'engine_seconds': (number);
  /**
   * Mean wait of a call before its batch left, in milliseconds.
   */
  'mean_queue_wait_ms': (number);
  /**
   * Engine requests sent again after a retryable failure (429, 5xx, timeout,
   * connection error); a call that succeeded on its third try counts 2.
   */
  'retries': (number);
  /**
   * Engine responses that were 429 Too Many Requests.
   */
  'rate_limited': (number);
  /**
   * Prompt tokens, summed from the engines' reported usage.
   */
  'prompt_tokens': (number);
  /**
   * Completion tokens, summed from the engines' reported usage.
   */
  'completion_tokens': (number);
  /**
   * Engine calls answered with an error.
   */
  'failed_engine_calls': (number);
  /**
   * Latency of this job's engine calls.
   */
  'engine_latency': (_symbatcher_v1_LatencyPercentiles__Output | null);
  /**
   * The engine that answered this job's calls.
   */
  'engine': (string);
  /**
   * Cost in US dollars of the requests sent for this job (priced calls).
   */
  'cost_usd': (number);
  /**
   * Calls answered from the cache or coalesced with an identical call in
   * flight, with the tokens and cost they did not spend.
   */
  'saved': (_symbatcher_v1_Usage__Output | null);
  /**
   * Calls sent whose model has no price (their cost is not in cost_usd).
   */
  'unpriced_calls': (number);
  /**
   * Items that failed with ERROR_KIND_BUDGET_EXCEEDED.
   */
  'budget_exceeded': (number);
  /**
   * The engine that answered this job's embedding calls; empty: none.
   */
  'embedding_engine': (string);
  /**
   * Requests sent for this job by step (the n-th engine call of an item's
   * forward()), in step order: how many went by provider batch and how many
   * online, and what they cost against all online. Empty when no request
   * was sent.
   */
  'steps': (_symbatcher_v1_StepRoutes__Output)[];
  /**
   * Of engine_calls, the embedding calls (CALL_KIND_EMBEDDING) its workers
   * made; engine_calls - embedding_calls are chat calls.
   */
  'embedding_calls': (number);
  /**
   * Of cost_usd, what was billed twice: requests of a hedged provider batch
   * that the provider completed (and billed, at the batch price) after
   * their calls had been answered online, because the batch did not end
   * within the engine's cancel_wait. Each call was answered once; these
   * copies were only paid for. Seen when the batch ends (up to 15 minutes
   * after the cancel), so only while the job runs; later ones count in
   * EngineStatus.billed_twice_usd alone.
   */
  'billed_twice_usd': (number);
}

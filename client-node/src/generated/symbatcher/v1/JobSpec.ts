// Original file: ../proto/symbatcher/v1/batch.proto

import type { Codec as _symbatcher_v1_Codec, Codec__Output as _symbatcher_v1_Codec__Output } from '../../symbatcher/v1/Codec';
import type { CacheMode as _symbatcher_v1_CacheMode, CacheMode__Output as _symbatcher_v1_CacheMode__Output } from '../../symbatcher/v1/CacheMode';
import type { Long } from '@grpc/proto-loader';

/**
 * A job's settings. An unset `optional` field takes the server's default,
 * which its flags set; a field that is set is used as it is, 0 included, or
 * refused. An invalid field fails the job with INVALID_ARGUMENT naming the
 * field (trailer "symbatcher-field").
 */
export interface JobSpec {
  /**
   * Name the expression's workers registered under, e.g. "mypkg.mod:Summarize"
   * (Python workers register module:QualName). Required; surrounding
   * whitespace is ignored. Names (expression, engine, worker) are at most
   * 256 characters after trimming, with no control characters (newlines,
   * tabs, NUL) and no invisible formatting ones (bidi overrides, zero-width);
   * else INVALID_ARGUMENT naming the field and the limit.
   */
  'expression'?: (string);
  /**
   * Largest engine batch formed from this job's calls, in calls. Required:
   * 1..=4096; an engine may form smaller batches (its max_batch_size).
   */
  'batch_size'?: (number);
  /**
   * Longest wait of an engine call for its batch to fill, in milliseconds.
   * Unset: the server default (--max-queue-delay-ms, 50); 0 sends every
   * call's batch at once; at most 60000. A full batch, or every running item
   * waiting on a call, sends a batch at once.
   */
  'max_queue_delay_ms'?: (number);
  /**
   * JSON object passed as keyword arguments to every forward() call of the
   * job. Empty means {}; anything but a JSON object is refused, and so is
   * one nesting arrays and objects deeper than 64 levels.
   */
  'kwargs_json'?: (string);
  /**
   * Encoding of items, results and kwargs. CODEC_UNSPECIFIED means
   * CODEC_JSON; an unknown value is refused.
   */
  'codec'?: (_symbatcher_v1_Codec);
  /**
   * Engine name on the server (built-in "echo", configured or connected
   * engines); empty picks the server's default engine. An unknown name fails
   * the job (INVALID_ARGUMENT, kind "unknown_engine", field "engine").
   * Surrounding whitespace is ignored; case counts ("ECHO" is not "echo");
   * the name rules of `expression` apply.
   */
  'engine'?: (string);
  /**
   * Most items the server holds for this job at once (sent but not yet
   * answered); bounds server memory per job. Unset: the server default
   * (--window, 4096); 1..=1000000. JobAccepted.window is the value in
   * force.
   */
  'window'?: (number);
  /**
   * Times an item is started before it fails with WORKER_LOST when its
   * workers keep disconnecting. Unset: the server default (--max-attempts,
   * 3); 1..=100.
   */
  'max_attempts'?: (number);
  /**
   * How long the job waits for a worker serving `expression`, in
   * milliseconds, before it fails with FAILED_PRECONDITION (kind
   * "no_worker"). Unset: the server default (--worker-wait-ms, 30000); 0
   * fails at once when no such worker is connected.
   */
  'worker_wait_ms'?: (number);
  /**
   * Longest run of one item, in ms, from the moment its worker starts it:
   * a longer run fails with ERROR_KIND_TIMEOUT ("TimeoutError") and its
   * worker is told to cancel it. Unset: the server's --item-timeout-ms
   * (default: no limit). 1..=86400000.
   */
  'item_timeout_ms'?: (number);
  /**
   * The client's process, as its workers register it (RegisterWorker.
   * process_token): `local_only` items go only to those workers.
   */
  'process_token'?: (string);
  /**
   * How the job's calls use the server's call cache. CACHE_MODE_UNSPECIFIED
   * takes the server's choice for the job's engine.
   */
  'cache'?: (_symbatcher_v1_CacheMode);
  /**
   * Spend cap of the job in US dollars, from the priced usage of its engine
   * calls: once reached, no new call of the job is sent, calls in flight
   * finish, and every item still waiting fails with
   * ERROR_KIND_BUDGET_EXCEEDED. Unset: no cap. Finite and >= 0.
   */
  'max_cost_usd'?: (number | string);
  /**
   * Whether a run whose engine call waits on a provider batch gives its slot
   * back and its item runs again from the start once the call is answered,
   * its earlier calls answered from the replies the server kept (replay).
   * One step of a multi-call forward() then goes out as one provider batch
   * whatever the number of slots. Unset: true for engines that answer
   * through a provider's batch API; false: every run keeps its slot while it
   * waits. Has no effect on other engines.
   */
  'replay'?: (boolean);
  /**
   * Engine of the job's embedding calls (EngineCall.kind
   * CALL_KIND_EMBEDDING), an engine whose call kind is embedding; `engine`
   * answers the chat calls. Empty picks the server's default embedding
   * engine (--default-embedding-engine, else the config file's
   * default_embedding_engine, else its only embedding engine); without
   * one, the job's embedding calls fail with an error naming the kind. An
   * unknown name fails the job (INVALID_ARGUMENT, kind "unknown_engine",
   * field "embedding_engine"), and so does an engine of another kind (kind
   * "wrong_engine_kind"). The name rules of `expression` apply.
   */
  'embedding_engine'?: (string);
  /**
   * When the job must be done, in milliseconds since the Unix epoch (the
   * server's clock). A batch API engine with an online fallback then sends
   * a call to the provider batch only while the time left can absorb the
   * batch's turnaround, and sends calls online (hedging a late batch) when
   * it no longer can; other engines ignore it. Unset: no deadline (every
   * call of a batch API engine goes by batch). Must be in the future and
   * at most 366 days ahead.
   */
  'deadline_unix_ms'?: (number | string | Long);
  '_max_queue_delay_ms'?: "max_queue_delay_ms";
  '_window'?: "window";
  '_max_attempts'?: "max_attempts";
  '_worker_wait_ms'?: "worker_wait_ms";
  '_item_timeout_ms'?: "item_timeout_ms";
  '_max_cost_usd'?: "max_cost_usd";
  '_replay'?: "replay";
  '_deadline_unix_ms'?: "deadline_unix_ms";
}

/**
 * A job's settings. An unset `optional` field takes the server's default,
 * which its flags set; a field that is set is used as it is, 0 included, or
 * refused. An invalid field fails the job with INVALID_ARGUMENT naming the
 * field (trailer "symbatcher-field").
 */
export interface JobSpec__Output {
  /**
   * Name the expression's workers registered under, e.g. "mypkg.mod:Summarize"
   * (Python workers register module:QualName). Required; surrounding
   * whitespace is ignored. Names (expression, engine, worker) are at most
   * 256 characters after trimming, with no control characters (newlines,
   * tabs, NUL) and no invisible formatting ones (bidi overrides, zero-width);
   * else INVALID_ARGUMENT naming the field and the limit.
   */
  'expression': (string);
  /**
   * Largest engine batch formed from this job's calls, in calls. Required:
   * 1..=4096; an engine may form smaller batches (its max_batch_size).
   */
  'batch_size': (number);
  /**
   * Longest wait of an engine call for its batch to fill, in milliseconds.
   * Unset: the server default (--max-queue-delay-ms, 50); 0 sends every
   * call's batch at once; at most 60000. A full batch, or every running item
   * waiting on a call, sends a batch at once.
   */
  'max_queue_delay_ms'?: (number);
  /**
   * JSON object passed as keyword arguments to every forward() call of the
   * job. Empty means {}; anything but a JSON object is refused, and so is
   * one nesting arrays and objects deeper than 64 levels.
   */
  'kwargs_json': (string);
  /**
   * Encoding of items, results and kwargs. CODEC_UNSPECIFIED means
   * CODEC_JSON; an unknown value is refused.
   */
  'codec': (_symbatcher_v1_Codec__Output);
  /**
   * Engine name on the server (built-in "echo", configured or connected
   * engines); empty picks the server's default engine. An unknown name fails
   * the job (INVALID_ARGUMENT, kind "unknown_engine", field "engine").
   * Surrounding whitespace is ignored; case counts ("ECHO" is not "echo");
   * the name rules of `expression` apply.
   */
  'engine': (string);
  /**
   * Most items the server holds for this job at once (sent but not yet
   * answered); bounds server memory per job. Unset: the server default
   * (--window, 4096); 1..=1000000. JobAccepted.window is the value in
   * force.
   */
  'window'?: (number);
  /**
   * Times an item is started before it fails with WORKER_LOST when its
   * workers keep disconnecting. Unset: the server default (--max-attempts,
   * 3); 1..=100.
   */
  'max_attempts'?: (number);
  /**
   * How long the job waits for a worker serving `expression`, in
   * milliseconds, before it fails with FAILED_PRECONDITION (kind
   * "no_worker"). Unset: the server default (--worker-wait-ms, 30000); 0
   * fails at once when no such worker is connected.
   */
  'worker_wait_ms'?: (number);
  /**
   * Longest run of one item, in ms, from the moment its worker starts it:
   * a longer run fails with ERROR_KIND_TIMEOUT ("TimeoutError") and its
   * worker is told to cancel it. Unset: the server's --item-timeout-ms
   * (default: no limit). 1..=86400000.
   */
  'item_timeout_ms'?: (number);
  /**
   * The client's process, as its workers register it (RegisterWorker.
   * process_token): `local_only` items go only to those workers.
   */
  'process_token': (string);
  /**
   * How the job's calls use the server's call cache. CACHE_MODE_UNSPECIFIED
   * takes the server's choice for the job's engine.
   */
  'cache': (_symbatcher_v1_CacheMode__Output);
  /**
   * Spend cap of the job in US dollars, from the priced usage of its engine
   * calls: once reached, no new call of the job is sent, calls in flight
   * finish, and every item still waiting fails with
   * ERROR_KIND_BUDGET_EXCEEDED. Unset: no cap. Finite and >= 0.
   */
  'max_cost_usd'?: (number);
  /**
   * Whether a run whose engine call waits on a provider batch gives its slot
   * back and its item runs again from the start once the call is answered,
   * its earlier calls answered from the replies the server kept (replay).
   * One step of a multi-call forward() then goes out as one provider batch
   * whatever the number of slots. Unset: true for engines that answer
   * through a provider's batch API; false: every run keeps its slot while it
   * waits. Has no effect on other engines.
   */
  'replay'?: (boolean);
  /**
   * Engine of the job's embedding calls (EngineCall.kind
   * CALL_KIND_EMBEDDING), an engine whose call kind is embedding; `engine`
   * answers the chat calls. Empty picks the server's default embedding
   * engine (--default-embedding-engine, else the config file's
   * default_embedding_engine, else its only embedding engine); without
   * one, the job's embedding calls fail with an error naming the kind. An
   * unknown name fails the job (INVALID_ARGUMENT, kind "unknown_engine",
   * field "embedding_engine"), and so does an engine of another kind (kind
   * "wrong_engine_kind"). The name rules of `expression` apply.
   */
  'embedding_engine': (string);
  /**
   * When the job must be done, in milliseconds since the Unix epoch (the
   * server's clock). A batch API engine with an online fallback then sends
   * a call to the provider batch only while the time left can absorb the
   * batch's turnaround, and sends calls online (hedging a late batch) when
   * it no longer can; other engines ignore it. Unset: no deadline (every
   * call of a batch API engine goes by batch). Must be in the future and
   * at most 366 days ahead.
   */
  'deadline_unix_ms'?: (number);
  '_max_queue_delay_ms'?: "max_queue_delay_ms";
  '_window'?: "window";
  '_max_attempts'?: "max_attempts";
  '_worker_wait_ms'?: "worker_wait_ms";
  '_item_timeout_ms'?: "item_timeout_ms";
  '_max_cost_usd'?: "max_cost_usd";
  '_replay'?: "replay";
  '_deadline_unix_ms'?: "deadline_unix_ms";
}

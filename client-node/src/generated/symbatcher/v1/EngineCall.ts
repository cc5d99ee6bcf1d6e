// Original file: ../proto/symbatcher/v1/common.proto

import type { CallKind as _symbatcher_v1_CallKind, CallKind__Output as _symbatcher_v1_CallKind__Output } from '../../symbatcher/v1/CallKind';
import type { Long } from '@grpc/proto-loader';

/**
 * One LLM call, as a worker sends it (in WorkerEngineCall) and as an engine
 * receives it (in EngineBatch).
 */
export interface EngineCall {
  /**
   * Id of the call. From a worker: chosen by the worker, unique on its
   * connection; the reply carries it back. To an engine: chosen by the
   * server, unique on the server; the engine's reply must carry it.
   */
  'call_id'?: (number | string | Long);
  /**
   * The processed input the caller built (symai's prompt); the echo engine
   * answers "echo: " followed by it.
   */
  'prompt'?: (string);
  /**
   * JSON array of chat messages ({"role", "content"}), system prompt
   * included. Empty when the job's engine does not read messages
   * (JobInfo.engine_wants_messages false); the openai engine, given none,
   * sends `prompt` as one user message.
   */
  'messages_json'?: (string);
  /**
   * JSON object of request kwargs (model, temperature, max_tokens, ...);
   * empty means none. Calls are batched per engine and "model", so calls for
   * different models never share a batch. From a worker, a call nesting
   * arrays and objects deeper than 64 levels is answered at once with an
   * error naming the limit (kind ENCODING); its run goes on.
   */
  'kwargs_json'?: (string);
  /**
   * Set by a Python worker whose symai call object stays in its process: an
   * engine served from that same process may answer from that object
   * (exactly as symai would) instead of `prompt`/`messages_json`. Opaque to
   * everyone else; empty when not set.
   */
  'local_ref'?: (string);
  /**
   * Which engine of its job answers the call. A call of a kind the job has
   * no engine for is answered at once with an error naming the kind and how
   * to give the job one (kind ENGINE); its run goes on.
   */
  'kind'?: (_symbatcher_v1_CallKind);
  /**
   * CALL_KIND_EMBEDDING: the texts to embed, one vector each in the reply
   * (1 to 2048 of them; else the call is answered with an error naming the
   * limit). `prompt` and `messages_json` are then unused.
   */
  'inputs'?: (string)[];
  /**
   * To an engine: the deadline of the call's job (JobSpec.deadline_unix_ms),
   * set by the server when it forms the engine batch; unset: none. From a
   * worker: ignored.
   */
  'deadline_unix_ms'?: (number | string | Long);
  '_deadline_unix_ms'?: "deadline_unix_ms";
}

/**
 * One LLM call, as a worker sends it (in WorkerEngineCall) and as an engine
 * receives it (in EngineBatch).
 */
export interface EngineCall__Output {
  /**
   * Id of the call. From a worker: chosen by the worker, unique on its
   * connection; the reply carries it back. To an engine: chosen by the
   * server, unique on the server; the engine's reply must carry it.
   */
  'call_id': (number);
  /**
   * The processed input the caller built (symai's prompt); the echo engine
   * answers "echo: " followed by it.
   */
  'prompt': (string);
  /**
   * JSON array of chat messages ({"role", "content"}), system prompt
   * included. Empty when the job's engine does not read messages
   * (JobInfo.engine_wants_messages false); the openai engine, given none,
   * sends `prompt` as one user message.
   */
  'messages_json': (string);
  /**
   * JSON object of request kwargs (model, temperature, max_tokens, ...);
   * empty means none. Calls are batched per engine and "model", so calls for
   * different models never share a batch. From a worker, a call nesting
   * arrays and objects deeper than 64 levels is answered at once with an
   * error naming the limit (kind ENCODING); its run goes on.
   */
  'kwargs_json': (string);
  /**
   * Set by a Python worker whose symai call object stays in its process: an
   * engine served from that same process may answer from that object
   * (exactly as symai would) instead of `prompt`/`messages_json`. Opaque to
   * everyone else; empty when not set.
   */
  'local_ref': (string);
  /**
   * Which engine of its job answers the call. A call of a kind the job has
   * no engine for is answered at once with an error naming the kind and how
   * to give the job one (kind ENGINE); its run goes on.
   */
  'kind': (_symbatcher_v1_CallKind__Output);
  /**
   * CALL_KIND_EMBEDDING: the texts to embed, one vector each in the reply
   * (1 to 2048 of them; else the call is answered with an error naming the
   * limit). `prompt` and `messages_json` are then unused.
   */
  'inputs': (string)[];
  /**
   * To an engine: the deadline of the call's job (JobSpec.deadline_unix_ms),
   * set by the server when it forms the engine batch; unset: none. From a
   * worker: ignored.
   */
  'deadline_unix_ms'?: (number);
  '_deadline_unix_ms'?: "deadline_unix_ms";
}

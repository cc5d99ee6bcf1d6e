// Original file: ../proto/symbatcher/v1/engine.proto

import type { CallKind as _symbatcher_v1_CallKind, CallKind__Output as _symbatcher_v1_CallKind__Output } from '../../symbatcher/v1/CallKind';

/**
 * Who the engine is. An invalid field ends the stream with INVALID_ARGUMENT
 * naming the field.
 */
export interface RegisterEngine {
  /**
   * Engine name jobs select it by (JobSpec.engine); required, and must not
   * name a configured or connected engine (else ALREADY_EXISTS, kind
   * "engine_name_taken"). Surrounding whitespace is ignored; at most 256
   * characters, no control or invisible formatting characters; a name that
   * differs from an engine's only in case is refused (INVALID_ARGUMENT,
   * field "name").
   */
  'name'?: (string);
  /**
   * Batches this engine accepts at once (1..=1024); the server never has
   * more unanswered. Unset: no cap, so batches in flight follow the worker
   * slots calling the engine (each batch holds at least one running item's
   * call). An explicit 0 is invalid.
   */
  'max_concurrency'?: (number);
  /**
   * The engine calls a provider that charges per call (e.g. SymaiEngine):
   * jobs on it use the server's call cache unless their JobSpec.cache says
   * otherwise, as jobs on openai engines do. False: the default is "off".
   */
  'cache_by_default'?: (boolean);
  /**
   * The kind of call it answers; CALL_KIND_UNSPECIFIED is
   * CALL_KIND_NEUROSYMBOLIC (chat). An embedding engine answers each call
   * with EngineReply.embeddings, one vector per input.
   */
  'call_kind'?: (_symbatcher_v1_CallKind);
  /**
   * The engine sends each call as a request of its own and answers each as
   * soon as it is ready (EngineBatchResult.partial), as the server's openai
   * engine does: a call gains nothing by waiting for its batch to fill, so
   * it leaves at once (its job's batch_size and max_queue_delay do not hold
   * it back). False: calls wait for their batch as usual.
   */
  'answers_per_call'?: (boolean);
  '_max_concurrency'?: "max_concurrency";
}

/**
 * Who the engine is. An invalid field ends the stream with INVALID_ARGUMENT
 * naming the field.
 */
export interface RegisterEngine__Output {
  /**
   * Engine name jobs select it by (JobSpec.engine); required, and must not
   * name a configured or connected engine (else ALREADY_EXISTS, kind
   * "engine_name_taken"). Surrounding whitespace is ignored; at most 256
   * characters, no control or invisible formatting characters; a name that
   * differs from an engine's only in case is refused (INVALID_ARGUMENT,
   * field "name").
   */
  'name': (string);
  /**
   * Batches this engine accepts at once (1..=1024); the server never has
   * more unanswered. Unset: no cap, so batches in flight follow the worker
   * slots calling the engine (each batch holds at least one running item's
   * call). An explicit 0 is invalid.
   */
  'max_concurrency'?: (number);
  /**
   * The engine calls a provider that charges per call (e.g. SymaiEngine):
   * jobs on it use the server's call cache unless their JobSpec.cache says
   * otherwise, as jobs on openai engines do. False: the default is "off".
   */
  'cache_by_default': (boolean);
  /**
   * The kind of call it answers; CALL_KIND_UNSPECIFIED is
   * CALL_KIND_NEUROSYMBOLIC (chat). An embedding engine answers each call
   * with EngineReply.embeddings, one vector per input.
   */
  'call_kind': (_symbatcher_v1_CallKind__Output);
  /**
   * The engine sends each call as a request of its own and answers each as
   * soon as it is ready (EngineBatchResult.partial), as the server's openai
   * engine does: a call gains nothing by waiting for its batch to fill, so
   * it leaves at once (its job's batch_size and max_queue_delay do not hold
   * it back). False: calls wait for their batch as usual.
   */
  'answers_per_call': (boolean);
  '_max_concurrency'?: "max_concurrency";
}

// Original file: ../proto/symbatcher/v1/common.proto

/**
 * The kind of an engine call, after the symai engine that makes it. A job
 * has an engine per kind (JobSpec.engine, JobSpec.embedding_engine); an
 * engine answers calls of one kind (EngineStatus.call_kind).
 */
export const CallKind = {
  /**
   * Read as CALL_KIND_NEUROSYMBOLIC.
   */
  CALL_KIND_UNSPECIFIED: 'CALL_KIND_UNSPECIFIED',
  /**
   * A chat call (symai's "neurosymbolic" engine: Symbol.query, ...):
   * prompt, messages_json and kwargs_json; answered with text.
   */
  CALL_KIND_NEUROSYMBOLIC: 'CALL_KIND_NEUROSYMBOLIC',
  /**
   * An embedding call (symai's "embedding" engine: Symbol.embed,
   * Symbol.similarity, ...): `inputs` and kwargs_json; answered with one
   * vector per input (EngineReply.embeddings).
   */
  CALL_KIND_EMBEDDING: 'CALL_KIND_EMBEDDING',
} as const;

/**
 * The kind of an engine call, after the symai engine that makes it. A job
 * has an engine per kind (JobSpec.engine, JobSpec.embedding_engine); an
 * engine answers calls of one kind (EngineStatus.call_kind).
 */
export type CallKind =
  /**
   * Read as CALL_KIND_NEUROSYMBOLIC.
   */
  | 'CALL_KIND_UNSPECIFIED'
  | 0
  /**
   * A chat call (symai's "neurosymbolic" engine: Symbol.query, ...):
   * prompt, messages_json and kwargs_json; answered with text.
   */
  | 'CALL_KIND_NEUROSYMBOLIC'
  | 1
  /**
   * An embedding call (symai's "embedding" engine: Symbol.embed,
   * Symbol.similarity, ...): `inputs` and kwargs_json; answered with one
   * vector per input (EngineReply.embeddings).
   */
  | 'CALL_KIND_EMBEDDING'
  | 2

/**
 * The kind of an engine call, after the symai engine that makes it. A job
 * has an engine per kind (JobSpec.engine, JobSpec.embedding_engine); an
 * engine answers calls of one kind (EngineStatus.call_kind).
 */
export type CallKind__Output = typeof CallKind[keyof typeof CallKind]

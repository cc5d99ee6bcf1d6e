// Original file: ../proto/symbatcher/v1/common.proto

import type { ErrorKind as _symbatcher_v1_ErrorKind, ErrorKind__Output as _symbatcher_v1_ErrorKind__Output } from '../../symbatcher/v1/ErrorKind';

/**
 * An error carried in place of a result (in an Outcome) or of an engine
 * reply (in an EngineReply), or failing a whole engine batch.
 */
export interface ItemError {
  /**
   * What failed.
   */
  'kind'?: (_symbatcher_v1_ErrorKind);
  /**
   * Exception type name, e.g. "ValueError" or "TypeError"; for engine errors
   * the engine's own type name, else "EngineError". May be empty.
   */
  'type'?: (string);
  /**
   * Human-readable description, e.g. the exception's message.
   */
  'message'?: (string);
  /**
   * Formatted traceback or stack text of the worker that raised; may be empty.
   */
  'traceback'?: (string);
}

/**
 * An error carried in place of a result (in an Outcome) or of an engine
 * reply (in an EngineReply), or failing a whole engine batch.
 */
export interface ItemError__Output {
  /**
   * What failed.
   */
  'kind': (_symbatcher_v1_ErrorKind__Output);
  /**
   * Exception type name, e.g. "ValueError" or "TypeError"; for engine errors
   * the engine's own type name, else "EngineError". May be empty.
   */
  'type': (string);
  /**
   * Human-readable description, e.g. the exception's message.
   */
  'message': (string);
  /**
   * Formatted traceback or stack text of the worker that raised; may be empty.
   */
  'traceback': (string);
}

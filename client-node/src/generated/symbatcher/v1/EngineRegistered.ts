// Original file: ../proto/symbatcher/v1/engine.proto


/**
 * The engine is registered.
 */
export interface EngineRegistered {
  /**
   * The name it is registered under, as in RegisterEngine.
   */
  'name'?: (string);
  /**
   * The server takes results in parts (EngineBatchResult.partial) and
   * several in one message (EngineWorkerMessage.results). A server older
   * than both leaves it unset: an engine then answers each batch whole, in
   * a message of its own.
   */
  'replies_ahead'?: (boolean);
}

/**
 * The engine is registered.
 */
export interface EngineRegistered__Output {
  /**
   * The name it is registered under, as in RegisterEngine.
   */
  'name': (string);
  /**
   * The server takes results in parts (EngineBatchResult.partial) and
   * several in one message (EngineWorkerMessage.results). A server older
   * than both leaves it unset: an engine then answers each batch whole, in
   * a message of its own.
   */
  'replies_ahead': (boolean);
}

// Original file: ../proto/symbatcher/v1/engine.proto


/**
 * The engine is registered.
 */
export interface EngineRegistered {
  /**
   * The name it is registered under, as in RegisterEngine.
   */
  'name'?: (string);
}

/**
 * The engine is registered.
 */
export interface EngineRegistered__Output {
  /**
   * The name it is registered under, as in RegisterEngine.
   */
  'name': (string);
}

// Original file: ../proto/symbatcher/v1/common.proto


/**
 * One embedding vector.
 */
export interface Vector {
  /**
   * Its components, as the provider sent them.
   */
  'values'?: (number | string)[];
}

/**
 * One embedding vector.
 */
export interface Vector__Output {
  /**
   * Its components, as the provider sent them.
   */
  'values': (number)[];
}

// Original file: ../proto/symbatcher/v1/common.proto

import type { Vector as _symbatcher_v1_Vector, Vector__Output as _symbatcher_v1_Vector__Output } from '../../symbatcher/v1/Vector';

/**
 * The vectors answering an embedding call, one per input, in input order.
 */
export interface Embeddings {
  /**
   * The vectors.
   */
  'vectors'?: (_symbatcher_v1_Vector)[];
}

/**
 * The vectors answering an embedding call, one per input, in input order.
 */
export interface Embeddings__Output {
  /**
   * The vectors.
   */
  'vectors': (_symbatcher_v1_Vector__Output)[];
}

// Original file: ../proto/symbatcher/v1/worker.proto

import type { WorkResult as _symbatcher_v1_WorkResult, WorkResult__Output as _symbatcher_v1_WorkResult__Output } from '../../symbatcher/v1/WorkResult';

/**
 * Results sent together.
 */
export interface WorkResultChunk {
  /**
   * The results, any number within the 64 MiB message limit.
   */
  'results'?: (_symbatcher_v1_WorkResult)[];
}

/**
 * Results sent together.
 */
export interface WorkResultChunk__Output {
  /**
   * The results, any number within the 64 MiB message limit.
   */
  'results': (_symbatcher_v1_WorkResult__Output)[];
}

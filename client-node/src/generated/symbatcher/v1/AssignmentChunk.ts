// Original file: ../proto/symbatcher/v1/worker.proto

import type { Assignment as _symbatcher_v1_Assignment, Assignment__Output as _symbatcher_v1_Assignment__Output } from '../../symbatcher/v1/Assignment';

/**
 * Assignments sent together. A worker holds at most concurrency + prefetch
 * assigned runs at once.
 */
export interface AssignmentChunk {
  /**
   * The assignments, in queue order.
   */
  'assignments'?: (_symbatcher_v1_Assignment)[];
}

/**
 * Assignments sent together. A worker holds at most concurrency + prefetch
 * assigned runs at once.
 */
export interface AssignmentChunk__Output {
  /**
   * The assignments, in queue order.
   */
  'assignments': (_symbatcher_v1_Assignment__Output)[];
}

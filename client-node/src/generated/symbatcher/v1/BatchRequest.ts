// Original file: ../proto/symbatcher/v1/batch.proto

import type { JobSpec as _symbatcher_v1_JobSpec, JobSpec__Output as _symbatcher_v1_JobSpec__Output } from '../../symbatcher/v1/JobSpec';
import type { ItemChunk as _symbatcher_v1_ItemChunk, ItemChunk__Output as _symbatcher_v1_ItemChunk__Output } from '../../symbatcher/v1/ItemChunk';
import type { EndOfInput as _symbatcher_v1_EndOfInput, EndOfInput__Output as _symbatcher_v1_EndOfInput__Output } from '../../symbatcher/v1/EndOfInput';

/**
 * A message from the client on a job's stream.
 */
export interface BatchRequest {
  /**
   * The job's settings: exactly once, first. Anything else first fails the
   * job (INVALID_ARGUMENT, kind "protocol"); so does a second one.
   */
  'spec'?: (_symbatcher_v1_JobSpec | null);
  /**
   * Items of the dataset, any number of chunks after the JobSpec.
   */
  'items'?: (_symbatcher_v1_ItemChunk | null);
  /**
   * No more items: once, last. A half-close without it ends the input too.
   */
  'end'?: (_symbatcher_v1_EndOfInput | null);
  /**
   * Which message this is; a request with none set is ignored.
   */
  'kind'?: "spec"|"items"|"end";
}

/**
 * A message from the client on a job's stream.
 */
export interface BatchRequest__Output {
  /**
   * The job's settings: exactly once, first. Anything else first fails the
   * job (INVALID_ARGUMENT, kind "protocol"); so does a second one.
   */
  'spec'?: (_symbatcher_v1_JobSpec__Output | null);
  /**
   * Items of the dataset, any number of chunks after the JobSpec.
   */
  'items'?: (_symbatcher_v1_ItemChunk__Output | null);
  /**
   * No more items: once, last. A half-close without it ends the input too.
   */
  'end'?: (_symbatcher_v1_EndOfInput__Output | null);
  /**
   * Which message this is; a request with none set is ignored.
   */
  'kind'?: "spec"|"items"|"end";
}

// Original file: ../proto/symbatcher/v1/worker.proto

import type { WorkerRegistered as _symbatcher_v1_WorkerRegistered, WorkerRegistered__Output as _symbatcher_v1_WorkerRegistered__Output } from '../../symbatcher/v1/WorkerRegistered';
import type { JobInfo as _symbatcher_v1_JobInfo, JobInfo__Output as _symbatcher_v1_JobInfo__Output } from '../../symbatcher/v1/JobInfo';
import type { AssignmentChunk as _symbatcher_v1_AssignmentChunk, AssignmentChunk__Output as _symbatcher_v1_AssignmentChunk__Output } from '../../symbatcher/v1/AssignmentChunk';
import type { EngineReplyChunk as _symbatcher_v1_EngineReplyChunk, EngineReplyChunk__Output as _symbatcher_v1_EngineReplyChunk__Output } from '../../symbatcher/v1/EngineReplyChunk';
import type { CancelTasks as _symbatcher_v1_CancelTasks, CancelTasks__Output as _symbatcher_v1_CancelTasks__Output } from '../../symbatcher/v1/CancelTasks';
import type { JobFinished as _symbatcher_v1_JobFinished, JobFinished__Output as _symbatcher_v1_JobFinished__Output } from '../../symbatcher/v1/JobFinished';

/**
 * A message from the server to a worker.
 */
export interface WorkerCommand {
  /**
   * First: the registration is accepted.
   */
  'registered'?: (_symbatcher_v1_WorkerRegistered | null);
  /**
   * A job's settings, before its first assignment to this worker.
   */
  'job'?: (_symbatcher_v1_JobInfo | null);
  /**
   * Items to run.
   */
  'assignments'?: (_symbatcher_v1_AssignmentChunk | null);
  /**
   * Answers to engine calls.
   */
  'replies'?: (_symbatcher_v1_EngineReplyChunk | null);
  /**
   * Runs to abandon.
   */
  'cancel'?: (_symbatcher_v1_CancelTasks | null);
  /**
   * A job ended.
   */
  'job_finished'?: (_symbatcher_v1_JobFinished | null);
  /**
   * Which message this is.
   */
  'kind'?: "registered"|"job"|"assignments"|"replies"|"cancel"|"job_finished";
}

/**
 * A message from the server to a worker.
 */
export interface WorkerCommand__Output {
  /**
   * First: the registration is accepted.
   */
  'registered'?: (_symbatcher_v1_WorkerRegistered__Output | null);
  /**
   * A job's settings, before its first assignment to this worker.
   */
  'job'?: (_symbatcher_v1_JobInfo__Output | null);
  /**
   * Items to run.
   */
  'assignments'?: (_symbatcher_v1_AssignmentChunk__Output | null);
  /**
   * Answers to engine calls.
   */
  'replies'?: (_symbatcher_v1_EngineReplyChunk__Output | null);
  /**
   * Runs to abandon.
   */
  'cancel'?: (_symbatcher_v1_CancelTasks__Output | null);
  /**
   * A job ended.
   */
  'job_finished'?: (_symbatcher_v1_JobFinished__Output | null);
  /**
   * Which message this is.
   */
  'kind'?: "registered"|"job"|"assignments"|"replies"|"cancel"|"job_finished";
}

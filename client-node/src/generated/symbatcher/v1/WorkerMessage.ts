// Original file: ../proto/symbatcher/v1/worker.proto

import type { RegisterWorker as _symbatcher_v1_RegisterWorker, RegisterWorker__Output as _symbatcher_v1_RegisterWorker__Output } from '../../symbatcher/v1/RegisterWorker';
import type { WorkResultChunk as _symbatcher_v1_WorkResultChunk, WorkResultChunk__Output as _symbatcher_v1_WorkResultChunk__Output } from '../../symbatcher/v1/WorkResultChunk';
import type { WorkerEngineCallChunk as _symbatcher_v1_WorkerEngineCallChunk, WorkerEngineCallChunk__Output as _symbatcher_v1_WorkerEngineCallChunk__Output } from '../../symbatcher/v1/WorkerEngineCallChunk';
import type { DrainWorker as _symbatcher_v1_DrainWorker, DrainWorker__Output as _symbatcher_v1_DrainWorker__Output } from '../../symbatcher/v1/DrainWorker';
import type { RunsStarted as _symbatcher_v1_RunsStarted, RunsStarted__Output as _symbatcher_v1_RunsStarted__Output } from '../../symbatcher/v1/RunsStarted';
import type { WorkerUpdate as _symbatcher_v1_WorkerUpdate, WorkerUpdate__Output as _symbatcher_v1_WorkerUpdate__Output } from '../../symbatcher/v1/WorkerUpdate';
import type { Heartbeat as _symbatcher_v1_Heartbeat, Heartbeat__Output as _symbatcher_v1_Heartbeat__Output } from '../../symbatcher/v1/Heartbeat';

/**
 * A message from a worker.
 */
export interface WorkerMessage {
  /**
   * Must be first (else INVALID_ARGUMENT, kind "protocol"); a second one is
   * ignored.
   */
  'register'?: (_symbatcher_v1_RegisterWorker | null);
  /**
   * Results of finished runs.
   */
  'results'?: (_symbatcher_v1_WorkResultChunk | null);
  /**
   * Engine calls made by running forward()s.
   */
  'engine_calls'?: (_symbatcher_v1_WorkerEngineCallChunk | null);
  /**
   * The worker is stopping.
   */
  'drain'?: (_symbatcher_v1_DrainWorker | null);
  /**
   * Runs its slots have started since the last RunsStarted.
   */
  'started'?: (_symbatcher_v1_RunsStarted | null);
  /**
   * Runs started, engine calls and results in one message: what a
   * worker's writer gathered since its last write.
   */
  'update'?: (_symbatcher_v1_WorkerUpdate | null);
  /**
   * A sign of life from the worker's loop, when it has nothing else to
   * send (see RegisterWorker.heartbeat_interval_ms).
   */
  'heartbeat'?: (_symbatcher_v1_Heartbeat | null);
  /**
   * Which message this is; a message with none set is ignored.
   */
  'kind'?: "register"|"results"|"engine_calls"|"drain"|"started"|"update"|"heartbeat";
}

/**
 * A message from a worker.
 */
export interface WorkerMessage__Output {
  /**
   * Must be first (else INVALID_ARGUMENT, kind "protocol"); a second one is
   * ignored.
   */
  'register'?: (_symbatcher_v1_RegisterWorker__Output | null);
  /**
   * Results of finished runs.
   */
  'results'?: (_symbatcher_v1_WorkResultChunk__Output | null);
  /**
   * Engine calls made by running forward()s.
   */
  'engine_calls'?: (_symbatcher_v1_WorkerEngineCallChunk__Output | null);
  /**
   * The worker is stopping.
   */
  'drain'?: (_symbatcher_v1_DrainWorker__Output | null);
  /**
   * Runs its slots have started since the last RunsStarted.
   */
  'started'?: (_symbatcher_v1_RunsStarted__Output | null);
  /**
   * Runs started, engine calls and results in one message: what a
   * worker's writer gathered since its last write.
   */
  'update'?: (_symbatcher_v1_WorkerUpdate__Output | null);
  /**
   * A sign of life from the worker's loop, when it has nothing else to
   * send (see RegisterWorker.heartbeat_interval_ms).
   */
  'heartbeat'?: (_symbatcher_v1_Heartbeat__Output | null);
  /**
   * Which message this is; a message with none set is ignored.
   */
  'kind'?: "register"|"results"|"engine_calls"|"drain"|"started"|"update"|"heartbeat";
}

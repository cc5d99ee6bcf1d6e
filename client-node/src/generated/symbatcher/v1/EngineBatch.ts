// Original file: ../proto/symbatcher/v1/engine.proto

import type { EngineCall as _symbatcher_v1_EngineCall, EngineCall__Output as _symbatcher_v1_EngineCall__Output } from '../../symbatcher/v1/EngineCall';
import type { Long } from '@grpc/proto-loader';

/**
 * Calls to answer together.
 */
export interface EngineBatch {
  /**
   * The batch's id, counting from 1 on each connection; the result names it.
   */
  'batch_id'?: (number | string | Long);
  /**
   * The calls (1 to 4096); call_id is the server's.
   */
  'calls'?: (_symbatcher_v1_EngineCall)[];
}

/**
 * Calls to answer together.
 */
export interface EngineBatch__Output {
  /**
   * The batch's id, counting from 1 on each connection; the result names it.
   */
  'batch_id': (number);
  /**
   * The calls (1 to 4096); call_id is the server's.
   */
  'calls': (_symbatcher_v1_EngineCall__Output)[];
}

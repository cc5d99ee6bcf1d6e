// Original file: ../proto/symbatcher/v1/engine.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { EngineCommand as _symbatcher_v1_EngineCommand, EngineCommand__Output as _symbatcher_v1_EngineCommand__Output } from '../../symbatcher/v1/EngineCommand';
import type { EngineWorkerMessage as _symbatcher_v1_EngineWorkerMessage, EngineWorkerMessage__Output as _symbatcher_v1_EngineWorkerMessage__Output } from '../../symbatcher/v1/EngineWorkerMessage';

/**
 * An engine process (e.g. a symbatcher.BatchEngine): receives whole batches of
 * engine calls and answers each call.
 */
export interface EngineServiceClient extends grpc.Client {
  /**
   * The server answers RegisterEngine with EngineRegistered (the engine is
   * usable by jobs from then on), then sends batches. When the stream ends,
   * unanswered batches fail with an engine error.
   */
  Serve(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_EngineWorkerMessage, _symbatcher_v1_EngineCommand__Output>;
  Serve(options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_EngineWorkerMessage, _symbatcher_v1_EngineCommand__Output>;
  /**
   * The server answers RegisterEngine with EngineRegistered (the engine is
   * usable by jobs from then on), then sends batches. When the stream ends,
   * unanswered batches fail with an engine error.
   */
  serve(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_EngineWorkerMessage, _symbatcher_v1_EngineCommand__Output>;
  serve(options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_EngineWorkerMessage, _symbatcher_v1_EngineCommand__Output>;
  
}

/**
 * An engine process (e.g. a symbatcher.BatchEngine): receives whole batches of
 * engine calls and answers each call.
 */
export interface EngineServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The server answers RegisterEngine with EngineRegistered (the engine is
   * usable by jobs from then on), then sends batches. When the stream ends,
   * unanswered batches fail with an engine error.
   */
  Serve: grpc.handleBidiStreamingCall<_symbatcher_v1_EngineWorkerMessage__Output, _symbatcher_v1_EngineCommand>;
  
}

export interface EngineServiceDefinition extends grpc.ServiceDefinition {
  Serve: MethodDefinition<_symbatcher_v1_EngineWorkerMessage, _symbatcher_v1_EngineCommand, _symbatcher_v1_EngineWorkerMessage__Output, _symbatcher_v1_EngineCommand__Output>
}

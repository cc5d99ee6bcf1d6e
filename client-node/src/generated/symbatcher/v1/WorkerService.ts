// Original file: ../proto/symbatcher/v1/worker.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { WorkerCommand as _symbatcher_v1_WorkerCommand, WorkerCommand__Output as _symbatcher_v1_WorkerCommand__Output } from '../../symbatcher/v1/WorkerCommand';
import type { WorkerMessage as _symbatcher_v1_WorkerMessage, WorkerMessage__Output as _symbatcher_v1_WorkerMessage__Output } from '../../symbatcher/v1/WorkerMessage';

/**
 * A worker process: runs forward() for assigned items and sends the engine
 * calls those forwards make back to the server, which batches them.
 */
export interface WorkerServiceClient extends grpc.Client {
  /**
   * Send RegisterWorker first; the server answers WorkerRegistered, then
   * JobInfos, assignments, engine replies, cancels and finished jobs for as
   * long as the stream lives. See docs/protocol.md.
   */
  Work(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_WorkerMessage, _symbatcher_v1_WorkerCommand__Output>;
  Work(options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_WorkerMessage, _symbatcher_v1_WorkerCommand__Output>;
  /**
   * Send RegisterWorker first; the server answers WorkerRegistered, then
   * JobInfos, assignments, engine replies, cancels and finished jobs for as
   * long as the stream lives. See docs/protocol.md.
   */
  work(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_WorkerMessage, _symbatcher_v1_WorkerCommand__Output>;
  work(options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_WorkerMessage, _symbatcher_v1_WorkerCommand__Output>;
  
}

/**
 * A worker process: runs forward() for assigned items and sends the engine
 * calls those forwards make back to the server, which batches them.
 */
export interface WorkerServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Send RegisterWorker first; the server answers WorkerRegistered, then
   * JobInfos, assignments, engine replies, cancels and finished jobs for as
   * long as the stream lives. See docs/protocol.md.
   */
  Work: grpc.handleBidiStreamingCall<_symbatcher_v1_WorkerMessage__Output, _symbatcher_v1_WorkerCommand>;
  
}

export interface WorkerServiceDefinition extends grpc.ServiceDefinition {
  Work: MethodDefinition<_symbatcher_v1_WorkerMessage, _symbatcher_v1_WorkerCommand, _symbatcher_v1_WorkerMessage__Output, _symbatcher_v1_WorkerCommand__Output>
}

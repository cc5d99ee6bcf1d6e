// Original file: ../proto/symbatcher/v1/batch.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BatchRequest as _symbatcher_v1_BatchRequest, BatchRequest__Output as _symbatcher_v1_BatchRequest__Output } from '../../symbatcher/v1/BatchRequest';
import type { BatchResponse as _symbatcher_v1_BatchResponse, BatchResponse__Output as _symbatcher_v1_BatchResponse__Output } from '../../symbatcher/v1/BatchResponse';

/**
 * A job: run one expression over a stream of items. See docs/protocol.md.
 */
export interface BatchServiceClient extends grpc.Client {
  /**
   * Send a JobSpec, then ItemChunks, then EndOfInput. The server answers with
   * JobAccepted, ResultChunks as items finish (in completion order), and a
   * final JobSummary, after which it closes the stream. Errors end the stream
   * with a status and the symbatcher-error-kind (and -field, -expression,
   * -waited-ms) trailers.
   */
  Batch(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_BatchRequest, _symbatcher_v1_BatchResponse__Output>;
  Batch(options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_BatchRequest, _symbatcher_v1_BatchResponse__Output>;
  /**
   * Send a JobSpec, then ItemChunks, then EndOfInput. The server answers with
   * JobAccepted, ResultChunks as items finish (in completion order), and a
   * final JobSummary, after which it closes the stream. Errors end the stream
   * with a status and the symbatcher-error-kind (and -field, -expression,
   * -waited-ms) trailers.
   */
  batch(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_BatchRequest, _symbatcher_v1_BatchResponse__Output>;
  batch(options?: grpc.CallOptions): grpc.ClientDuplexStream<_symbatcher_v1_BatchRequest, _symbatcher_v1_BatchResponse__Output>;
  
}

/**
 * A job: run one expression over a stream of items. See docs/protocol.md.
 */
export interface BatchServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Send a JobSpec, then ItemChunks, then EndOfInput. The server answers with
   * JobAccepted, ResultChunks as items finish (in completion order), and a
   * final JobSummary, after which it closes the stream. Errors end the stream
   * with a status and the symbatcher-error-kind (and -field, -expression,
   * -waited-ms) trailers.
   */
  Batch: grpc.handleBidiStreamingCall<_symbatcher_v1_BatchRequest__Output, _symbatcher_v1_BatchResponse>;
  
}

export interface BatchServiceDefinition extends grpc.ServiceDefinition {
  Batch: MethodDefinition<_symbatcher_v1_BatchRequest, _symbatcher_v1_BatchResponse, _symbatcher_v1_BatchRequest__Output, _symbatcher_v1_BatchResponse__Output>
}

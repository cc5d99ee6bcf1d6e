// Original file: ../proto/symbatcher/v1/status.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { StatusRequest as _symbatcher_v1_StatusRequest, StatusRequest__Output as _symbatcher_v1_StatusRequest__Output } from '../../symbatcher/v1/StatusRequest';
import type { StatusResponse as _symbatcher_v1_StatusResponse, StatusResponse__Output as _symbatcher_v1_StatusResponse__Output } from '../../symbatcher/v1/StatusResponse';

/**
 * A snapshot of the server: jobs, workers, engine queues and engines.
 */
export interface StatusServiceClient extends grpc.Client {
  /**
   * Returns the snapshot at the time of the request.
   */
  Status(argument: _symbatcher_v1_StatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_symbatcher_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _symbatcher_v1_StatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_symbatcher_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _symbatcher_v1_StatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_symbatcher_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _symbatcher_v1_StatusRequest, callback: grpc.requestCallback<_symbatcher_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Returns the snapshot at the time of the request.
   */
  status(argument: _symbatcher_v1_StatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_symbatcher_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _symbatcher_v1_StatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_symbatcher_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _symbatcher_v1_StatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_symbatcher_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _symbatcher_v1_StatusRequest, callback: grpc.requestCallback<_symbatcher_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * A snapshot of the server: jobs, workers, engine queues and engines.
 */
export interface StatusServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Returns the snapshot at the time of the request.
   */
  Status: grpc.handleUnaryCall<_symbatcher_v1_StatusRequest__Output, _symbatcher_v1_StatusResponse>;
  
}

export interface StatusServiceDefinition extends grpc.ServiceDefinition {
  Status: MethodDefinition<_symbatcher_v1_StatusRequest, _symbatcher_v1_StatusResponse, _symbatcher_v1_StatusRequest__Output, _symbatcher_v1_StatusResponse__Output>
}

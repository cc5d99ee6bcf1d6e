import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CacheStatus as _symbatcher_v1_CacheStatus, CacheStatus__Output as _symbatcher_v1_CacheStatus__Output } from './symbatcher/v1/CacheStatus';
import type { Embeddings as _symbatcher_v1_Embeddings, Embeddings__Output as _symbatcher_v1_Embeddings__Output } from './symbatcher/v1/Embeddings';
import type { EngineCall as _symbatcher_v1_EngineCall, EngineCall__Output as _symbatcher_v1_EngineCall__Output } from './symbatcher/v1/EngineCall';
import type { EngineReply as _symbatcher_v1_EngineReply, EngineReply__Output as _symbatcher_v1_EngineReply__Output } from './symbatcher/v1/EngineReply';
import type { EngineStatus as _symbatcher_v1_EngineStatus, EngineStatus__Output as _symbatcher_v1_EngineStatus__Output } from './symbatcher/v1/EngineStatus';
import type { ItemError as _symbatcher_v1_ItemError, ItemError__Output as _symbatcher_v1_ItemError__Output } from './symbatcher/v1/ItemError';
import type { JobStatus as _symbatcher_v1_JobStatus, JobStatus__Output as _symbatcher_v1_JobStatus__Output } from './symbatcher/v1/JobStatus';
import type { LatencyPercentiles as _symbatcher_v1_LatencyPercentiles, LatencyPercentiles__Output as _symbatcher_v1_LatencyPercentiles__Output } from './symbatcher/v1/LatencyPercentiles';
import type { Outcome as _symbatcher_v1_Outcome, Outcome__Output as _symbatcher_v1_Outcome__Output } from './symbatcher/v1/Outcome';
import type { ProviderBatchStatus as _symbatcher_v1_ProviderBatchStatus, ProviderBatchStatus__Output as _symbatcher_v1_ProviderBatchStatus__Output } from './symbatcher/v1/ProviderBatchStatus';
import type { QueueStatus as _symbatcher_v1_QueueStatus, QueueStatus__Output as _symbatcher_v1_QueueStatus__Output } from './symbatcher/v1/QueueStatus';
import type { StatusRequest as _symbatcher_v1_StatusRequest, StatusRequest__Output as _symbatcher_v1_StatusRequest__Output } from './symbatcher/v1/StatusRequest';
import type { StatusResponse as _symbatcher_v1_StatusResponse, StatusResponse__Output as _symbatcher_v1_StatusResponse__Output } from './symbatcher/v1/StatusResponse';
import type { StatusServiceClient as _symbatcher_v1_StatusServiceClient, StatusServiceDefinition as _symbatcher_v1_StatusServiceDefinition } from './symbatcher/v1/StatusService';
import type { Usage as _symbatcher_v1_Usage, Usage__Output as _symbatcher_v1_Usage__Output } from './symbatcher/v1/Usage';
import type { Vector as _symbatcher_v1_Vector, Vector__Output as _symbatcher_v1_Vector__Output } from './symbatcher/v1/Vector';
import type { WorkerStatus as _symbatcher_v1_WorkerStatus, WorkerStatus__Output as _symbatcher_v1_WorkerStatus__Output } from './symbatcher/v1/WorkerStatus';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  symbatcher: {
    v1: {
      CacheMode: EnumTypeDefinition
      CacheStatus: MessageTypeDefinition<_symbatcher_v1_CacheStatus, _symbatcher_v1_CacheStatus__Output>
      CallKind: EnumTypeDefinition
      Codec: EnumTypeDefinition
      Embeddings: MessageTypeDefinition<_symbatcher_v1_Embeddings, _symbatcher_v1_Embeddings__Output>
      EngineCall: MessageTypeDefinition<_symbatcher_v1_EngineCall, _symbatcher_v1_EngineCall__Output>
      EngineReply: MessageTypeDefinition<_symbatcher_v1_EngineReply, _symbatcher_v1_EngineReply__Output>
      EngineStatus: MessageTypeDefinition<_symbatcher_v1_EngineStatus, _symbatcher_v1_EngineStatus__Output>
      ErrorKind: EnumTypeDefinition
      ItemError: MessageTypeDefinition<_symbatcher_v1_ItemError, _symbatcher_v1_ItemError__Output>
      JobState: EnumTypeDefinition
      JobStatus: MessageTypeDefinition<_symbatcher_v1_JobStatus, _symbatcher_v1_JobStatus__Output>
      LatencyPercentiles: MessageTypeDefinition<_symbatcher_v1_LatencyPercentiles, _symbatcher_v1_LatencyPercentiles__Output>
      Outcome: MessageTypeDefinition<_symbatcher_v1_Outcome, _symbatcher_v1_Outcome__Output>
      ProviderBatchStatus: MessageTypeDefinition<_symbatcher_v1_ProviderBatchStatus, _symbatcher_v1_ProviderBatchStatus__Output>
      QueueStatus: MessageTypeDefinition<_symbatcher_v1_QueueStatus, _symbatcher_v1_QueueStatus__Output>
      StatusRequest: MessageTypeDefinition<_symbatcher_v1_StatusRequest, _symbatcher_v1_StatusRequest__Output>
      StatusResponse: MessageTypeDefinition<_symbatcher_v1_StatusResponse, _symbatcher_v1_StatusResponse__Output>
      /**
       * A snapshot of the server: jobs, workers, engine queues and engines.
       */
      StatusService: SubtypeConstructor<typeof grpc.Client, _symbatcher_v1_StatusServiceClient> & { service: _symbatcher_v1_StatusServiceDefinition }
      Usage: MessageTypeDefinition<_symbatcher_v1_Usage, _symbatcher_v1_Usage__Output>
      Vector: MessageTypeDefinition<_symbatcher_v1_Vector, _symbatcher_v1_Vector__Output>
      WorkerStatus: MessageTypeDefinition<_symbatcher_v1_WorkerStatus, _symbatcher_v1_WorkerStatus__Output>
    }
  }
}


import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { BatchRequest as _symbatcher_v1_BatchRequest, BatchRequest__Output as _symbatcher_v1_BatchRequest__Output } from './symbatcher/v1/BatchRequest';
import type { BatchResponse as _symbatcher_v1_BatchResponse, BatchResponse__Output as _symbatcher_v1_BatchResponse__Output } from './symbatcher/v1/BatchResponse';
import type { BatchServiceClient as _symbatcher_v1_BatchServiceClient, BatchServiceDefinition as _symbatcher_v1_BatchServiceDefinition } from './symbatcher/v1/BatchService';
import type { Embeddings as _symbatcher_v1_Embeddings, Embeddings__Output as _symbatcher_v1_Embeddings__Output } from './symbatcher/v1/Embeddings';
import type { EndOfInput as _symbatcher_v1_EndOfInput, EndOfInput__Output as _symbatcher_v1_EndOfInput__Output } from './symbatcher/v1/EndOfInput';
import type { EngineCall as _symbatcher_v1_EngineCall, EngineCall__Output as _symbatcher_v1_EngineCall__Output } from './symbatcher/v1/EngineCall';
import type { EngineReply as _symbatcher_v1_EngineReply, EngineReply__Output as _symbatcher_v1_EngineReply__Output } from './symbatcher/v1/EngineReply';
import type { Item as _symbatcher_v1_Item, Item__Output as _symbatcher_v1_Item__Output } from './symbatcher/v1/Item';
import type { ItemChunk as _symbatcher_v1_ItemChunk, ItemChunk__Output as _symbatcher_v1_ItemChunk__Output } from './symbatcher/v1/ItemChunk';
import type { ItemError as _symbatcher_v1_ItemError, ItemError__Output as _symbatcher_v1_ItemError__Output } from './symbatcher/v1/ItemError';
import type { ItemResult as _symbatcher_v1_ItemResult, ItemResult__Output as _symbatcher_v1_ItemResult__Output } from './symbatcher/v1/ItemResult';
import type { JobAccepted as _symbatcher_v1_JobAccepted, JobAccepted__Output as _symbatcher_v1_JobAccepted__Output } from './symbatcher/v1/JobAccepted';
import type { JobSpec as _symbatcher_v1_JobSpec, JobSpec__Output as _symbatcher_v1_JobSpec__Output } from './symbatcher/v1/JobSpec';
import type { JobSummary as _symbatcher_v1_JobSummary, JobSummary__Output as _symbatcher_v1_JobSummary__Output } from './symbatcher/v1/JobSummary';
import type { LatencyPercentiles as _symbatcher_v1_LatencyPercentiles, LatencyPercentiles__Output as _symbatcher_v1_LatencyPercentiles__Output } from './symbatcher/v1/LatencyPercentiles';
import type { Outcome as _symbatcher_v1_Outcome, Outcome__Output as _symbatcher_v1_Outcome__Output } from './symbatcher/v1/Outcome';
import type { ResultChunk as _symbatcher_v1_ResultChunk, ResultChunk__Output as _symbatcher_v1_ResultChunk__Output } from './symbatcher/v1/ResultChunk';
import type { StepRoutes as _symbatcher_v1_StepRoutes, StepRoutes__Output as _symbatcher_v1_StepRoutes__Output } from './symbatcher/v1/StepRoutes';
import type { Usage as _symbatcher_v1_Usage, Usage__Output as _symbatcher_v1_Usage__Output } from './symbatcher/v1/Usage';
import type { Vector as _symbatcher_v1_Vector, Vector__Output as _symbatcher_v1_Vector__Output } from './symbatcher/v1/Vector';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  symbatcher: {
    v1: {
      BatchRequest: MessageTypeDefinition<_symbatcher_v1_BatchRequest, _symbatcher_v1_BatchRequest__Output>
      BatchResponse: MessageTypeDefinition<_symbatcher_v1_BatchResponse, _symbatcher_v1_BatchResponse__Output>
      /**
       * A job: run one expression over a stream of items. See docs/protocol.md.
       */
      BatchService: SubtypeConstructor<typeof grpc.Client, _symbatcher_v1_BatchServiceClient> & { service: _symbatcher_v1_BatchServiceDefinition }
      CacheMode: EnumTypeDefinition
      CallKind: EnumTypeDefinition
      Codec: EnumTypeDefinition
      Embeddings: MessageTypeDefinition<_symbatcher_v1_Embeddings, _symbatcher_v1_Embeddings__Output>
      EndOfInput: MessageTypeDefinition<_symbatcher_v1_EndOfInput, _symbatcher_v1_EndOfInput__Output>
      EngineCall: MessageTypeDefinition<_symbatcher_v1_EngineCall, _symbatcher_v1_EngineCall__Output>
      EngineReply: MessageTypeDefinition<_symbatcher_v1_EngineReply, _symbatcher_v1_EngineReply__Output>
      ErrorKind: EnumTypeDefinition
      Item: MessageTypeDefinition<_symbatcher_v1_Item, _symbatcher_v1_Item__Output>
      ItemChunk: MessageTypeDefinition<_symbatcher_v1_ItemChunk, _symbatcher_v1_ItemChunk__Output>
      ItemError: MessageTypeDefinition<_symbatcher_v1_ItemError, _symbatcher_v1_ItemError__Output>
      ItemResult: MessageTypeDefinition<_symbatcher_v1_ItemResult, _symbatcher_v1_ItemResult__Output>
      JobAccepted: MessageTypeDefinition<_symbatcher_v1_JobAccepted, _symbatcher_v1_JobAccepted__Output>
      JobSpec: MessageTypeDefinition<_symbatcher_v1_JobSpec, _symbatcher_v1_JobSpec__Output>
      JobSummary: MessageTypeDefinition<_symbatcher_v1_JobSummary, _symbatcher_v1_JobSummary__Output>
      LatencyPercentiles: MessageTypeDefinition<_symbatcher_v1_LatencyPercentiles, _symbatcher_v1_LatencyPercentiles__Output>
      Outcome: MessageTypeDefinition<_symbatcher_v1_Outcome, _symbatcher_v1_Outcome__Output>
      ResultChunk: MessageTypeDefinition<_symbatcher_v1_ResultChunk, _symbatcher_v1_ResultChunk__Output>
      StepRoutes: MessageTypeDefinition<_symbatcher_v1_StepRoutes, _symbatcher_v1_StepRoutes__Output>
      Usage: MessageTypeDefinition<_symbatcher_v1_Usage, _symbatcher_v1_Usage__Output>
      Vector: MessageTypeDefinition<_symbatcher_v1_Vector, _symbatcher_v1_Vector__Output>
    }
  }
}


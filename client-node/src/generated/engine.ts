import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Embeddings as _symbatcher_v1_Embeddings, Embeddings__Output as _symbatcher_v1_Embeddings__Output } from './symbatcher/v1/Embeddings';
import type { EngineBatch as _symbatcher_v1_EngineBatch, EngineBatch__Output as _symbatcher_v1_EngineBatch__Output } from './symbatcher/v1/EngineBatch';
import type { EngineBatchResult as _symbatcher_v1_EngineBatchResult, EngineBatchResult__Output as _symbatcher_v1_EngineBatchResult__Output } from './symbatcher/v1/EngineBatchResult';
import type { EngineCall as _symbatcher_v1_EngineCall, EngineCall__Output as _symbatcher_v1_EngineCall__Output } from './symbatcher/v1/EngineCall';
import type { EngineCommand as _symbatcher_v1_EngineCommand, EngineCommand__Output as _symbatcher_v1_EngineCommand__Output } from './symbatcher/v1/EngineCommand';
import type { EngineRegistered as _symbatcher_v1_EngineRegistered, EngineRegistered__Output as _symbatcher_v1_EngineRegistered__Output } from './symbatcher/v1/EngineRegistered';
import type { EngineReply as _symbatcher_v1_EngineReply, EngineReply__Output as _symbatcher_v1_EngineReply__Output } from './symbatcher/v1/EngineReply';
import type { EngineResults as _symbatcher_v1_EngineResults, EngineResults__Output as _symbatcher_v1_EngineResults__Output } from './symbatcher/v1/EngineResults';
import type { EngineServiceClient as _symbatcher_v1_EngineServiceClient, EngineServiceDefinition as _symbatcher_v1_EngineServiceDefinition } from './symbatcher/v1/EngineService';
import type { EngineWorkerMessage as _symbatcher_v1_EngineWorkerMessage, EngineWorkerMessage__Output as _symbatcher_v1_EngineWorkerMessage__Output } from './symbatcher/v1/EngineWorkerMessage';
import type { ItemError as _symbatcher_v1_ItemError, ItemError__Output as _symbatcher_v1_ItemError__Output } from './symbatcher/v1/ItemError';
import type { LatencyPercentiles as _symbatcher_v1_LatencyPercentiles, LatencyPercentiles__Output as _symbatcher_v1_LatencyPercentiles__Output } from './symbatcher/v1/LatencyPercentiles';
import type { Outcome as _symbatcher_v1_Outcome, Outcome__Output as _symbatcher_v1_Outcome__Output } from './symbatcher/v1/Outcome';
import type { RegisterEngine as _symbatcher_v1_RegisterEngine, RegisterEngine__Output as _symbatcher_v1_RegisterEngine__Output } from './symbatcher/v1/RegisterEngine';
import type { Usage as _symbatcher_v1_Usage, Usage__Output as _symbatcher_v1_Usage__Output } from './symbatcher/v1/Usage';
import type { Vector as _symbatcher_v1_Vector, Vector__Output as _symbatcher_v1_Vector__Output } from './symbatcher/v1/Vector';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  symbatcher: {
    v1: {
      CacheMode: EnumTypeDefinition
      CallKind: EnumTypeDefinition
      Codec: EnumTypeDefinition
      Embeddings: MessageTypeDefinition<_symbatcher_v1_Embeddings, _symbatcher_v1_Embeddings__Output>
      EngineBatch: MessageTypeDefinition<_symbatcher_v1_EngineBatch, _symbatcher_v1_EngineBatch__Output>
      EngineBatchResult: MessageTypeDefinition<_symbatcher_v1_EngineBatchResult, _symbatcher_v1_EngineBatchResult__Output>
      EngineCall: MessageTypeDefinition<_symbatcher_v1_EngineCall, _symbatcher_v1_EngineCall__Output>
      EngineCommand: MessageTypeDefinition<_symbatcher_v1_EngineCommand, _symbatcher_v1_EngineCommand__Output>
      EngineRegistered: MessageTypeDefinition<_symbatcher_v1_EngineRegistered, _symbatcher_v1_EngineRegistered__Output>
      EngineReply: MessageTypeDefinition<_symbatcher_v1_EngineReply, _symbatcher_v1_EngineReply__Output>
      EngineResults: MessageTypeDefinition<_symbatcher_v1_EngineResults, _symbatcher_v1_EngineResults__Output>
      /**
       * An engine process (e.g. a symbatcher.BatchEngine): receives whole batches of
       * engine calls and answers each call.
       */
      EngineService: SubtypeConstructor<typeof grpc.Client, _symbatcher_v1_EngineServiceClient> & { service: _symbatcher_v1_EngineServiceDefinition }
      EngineWorkerMessage: MessageTypeDefinition<_symbatcher_v1_EngineWorkerMessage, _symbatcher_v1_EngineWorkerMessage__Output>
      ErrorKind: EnumTypeDefinition
      ItemError: MessageTypeDefinition<_symbatcher_v1_ItemError, _symbatcher_v1_ItemError__Output>
      LatencyPercentiles: MessageTypeDefinition<_symbatcher_v1_LatencyPercentiles, _symbatcher_v1_LatencyPercentiles__Output>
      Outcome: MessageTypeDefinition<_symbatcher_v1_Outcome, _symbatcher_v1_Outcome__Output>
      RegisterEngine: MessageTypeDefinition<_symbatcher_v1_RegisterEngine, _symbatcher_v1_RegisterEngine__Output>
      Usage: MessageTypeDefinition<_symbatcher_v1_Usage, _symbatcher_v1_Usage__Output>
      Vector: MessageTypeDefinition<_symbatcher_v1_Vector, _symbatcher_v1_Vector__Output>
    }
  }
}


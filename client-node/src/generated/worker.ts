import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Assignment as _symbatcher_v1_Assignment, Assignment__Output as _symbatcher_v1_Assignment__Output } from './symbatcher/v1/Assignment';
import type { AssignmentChunk as _symbatcher_v1_AssignmentChunk, AssignmentChunk__Output as _symbatcher_v1_AssignmentChunk__Output } from './symbatcher/v1/AssignmentChunk';
import type { CancelTasks as _symbatcher_v1_CancelTasks, CancelTasks__Output as _symbatcher_v1_CancelTasks__Output } from './symbatcher/v1/CancelTasks';
import type { DrainWorker as _symbatcher_v1_DrainWorker, DrainWorker__Output as _symbatcher_v1_DrainWorker__Output } from './symbatcher/v1/DrainWorker';
import type { Embeddings as _symbatcher_v1_Embeddings, Embeddings__Output as _symbatcher_v1_Embeddings__Output } from './symbatcher/v1/Embeddings';
import type { EngineCall as _symbatcher_v1_EngineCall, EngineCall__Output as _symbatcher_v1_EngineCall__Output } from './symbatcher/v1/EngineCall';
import type { EngineReply as _symbatcher_v1_EngineReply, EngineReply__Output as _symbatcher_v1_EngineReply__Output } from './symbatcher/v1/EngineReply';
import type { EngineReplyChunk as _symbatcher_v1_EngineReplyChunk, EngineReplyChunk__Output as _symbatcher_v1_EngineReplyChunk__Output } from './symbatcher/v1/EngineReplyChunk';
import type { Heartbeat as _symbatcher_v1_Heartbeat, Heartbeat__Output as _symbatcher_v1_Heartbeat__Output } from './symbatcher/v1/Heartbeat';
import type { ItemError as _symbatcher_v1_ItemError, ItemError__Output as _symbatcher_v1_ItemError__Output } from './symbatcher/v1/ItemError';
import type { JobFinished as _symbatcher_v1_JobFinished, JobFinished__Output as _symbatcher_v1_JobFinished__Output } from './symbatcher/v1/JobFinished';
import type { JobInfo as _symbatcher_v1_JobInfo, JobInfo__Output as _symbatcher_v1_JobInfo__Output } from './symbatcher/v1/JobInfo';
import type { LatencyPercentiles as _symbatcher_v1_LatencyPercentiles, LatencyPercentiles__Output as _symbatcher_v1_LatencyPercentiles__Output } from './symbatcher/v1/LatencyPercentiles';
import type { Outcome as _symbatcher_v1_Outcome, Outcome__Output as _symbatcher_v1_Outcome__Output } from './symbatcher/v1/Outcome';
import type { RegisterWorker as _symbatcher_v1_RegisterWorker, RegisterWorker__Output as _symbatcher_v1_RegisterWorker__Output } from './symbatcher/v1/RegisterWorker';
import type { RunsStarted as _symbatcher_v1_RunsStarted, RunsStarted__Output as _symbatcher_v1_RunsStarted__Output } from './symbatcher/v1/RunsStarted';
import type { Usage as _symbatcher_v1_Usage, Usage__Output as _symbatcher_v1_Usage__Output } from './symbatcher/v1/Usage';
import type { Vector as _symbatcher_v1_Vector, Vector__Output as _symbatcher_v1_Vector__Output } from './symbatcher/v1/Vector';
import type { WorkResult as _symbatcher_v1_WorkResult, WorkResult__Output as _symbatcher_v1_WorkResult__Output } from './symbatcher/v1/WorkResult';
import type { WorkResultChunk as _symbatcher_v1_WorkResultChunk, WorkResultChunk__Output as _symbatcher_v1_WorkResultChunk__Output } from './symbatcher/v1/WorkResultChunk';
import type { WorkerCommand as _symbatcher_v1_WorkerCommand, WorkerCommand__Output as _symbatcher_v1_WorkerCommand__Output } from './symbatcher/v1/WorkerCommand';
import type { WorkerEngineCall as _symbatcher_v1_WorkerEngineCall, WorkerEngineCall__Output as _symbatcher_v1_WorkerEngineCall__Output } from './symbatcher/v1/WorkerEngineCall';
import type { WorkerEngineCallChunk as _symbatcher_v1_WorkerEngineCallChunk, WorkerEngineCallChunk__Output as _symbatcher_v1_WorkerEngineCallChunk__Output } from './symbatcher/v1/WorkerEngineCallChunk';
import type { WorkerMessage as _symbatcher_v1_WorkerMessage, WorkerMessage__Output as _symbatcher_v1_WorkerMessage__Output } from './symbatcher/v1/WorkerMessage';
import type { WorkerRegistered as _symbatcher_v1_WorkerRegistered, WorkerRegistered__Output as _symbatcher_v1_WorkerRegistered__Output } from './symbatcher/v1/WorkerRegistered';
import type { WorkerServiceClient as _symbatcher_v1_WorkerServiceClient, WorkerServiceDefinition as _symbatcher_v1_WorkerServiceDefinition } from './symbatcher/v1/WorkerService';
import type { WorkerUpdate as _symbatcher_v1_WorkerUpdate, WorkerUpdate__Output as _symbatcher_v1_WorkerUpdate__Output } from './symbatcher/v1/WorkerUpdate';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  symbatcher: {
    v1: {
      Assignment: MessageTypeDefinition<_symbatcher_v1_Assignment, _symbatcher_v1_Assignment__Output>
      AssignmentChunk: MessageTypeDefinition<_symbatcher_v1_AssignmentChunk, _symbatcher_v1_AssignmentChunk__Output>
      CacheMode: EnumTypeDefinition
      CallKind: EnumTypeDefinition
      CancelTasks: MessageTypeDefinition<_symbatcher_v1_CancelTasks, _symbatcher_v1_CancelTasks__Output>
      Codec: EnumTypeDefinition
      DrainWorker: MessageTypeDefinition<_symbatcher_v1_DrainWorker, _symbatcher_v1_DrainWorker__Output>
      Embeddings: MessageTypeDefinition<_symbatcher_v1_Embeddings, _symbatcher_v1_Embeddings__Output>
      EngineCall: MessageTypeDefinition<_symbatcher_v1_EngineCall, _symbatcher_v1_EngineCall__Output>
      EngineReply: MessageTypeDefinition<_symbatcher_v1_EngineReply, _symbatcher_v1_EngineReply__Output>
      EngineReplyChunk: MessageTypeDefinition<_symbatcher_v1_EngineReplyChunk, _symbatcher_v1_EngineReplyChunk__Output>
      ErrorKind: EnumTypeDefinition
      Heartbeat: MessageTypeDefinition<_symbatcher_v1_Heartbeat, _symbatcher_v1_Heartbeat__Output>
      ItemError: MessageTypeDefinition<_symbatcher_v1_ItemError, _symbatcher_v1_ItemError__Output>
      JobFinished: MessageTypeDefinition<_symbatcher_v1_JobFinished, _symbatcher_v1_JobFinished__Output>
      JobInfo: MessageTypeDefinition<_symbatcher_v1_JobInfo, _symbatcher_v1_JobInfo__Output>
      LatencyPercentiles: MessageTypeDefinition<_symbatcher_v1_LatencyPercentiles, _symbatcher_v1_LatencyPercentiles__Output>
      Outcome: MessageTypeDefinition<_symbatcher_v1_Outcome, _symbatcher_v1_Outcome__Output>
      RegisterWorker: MessageTypeDefinition<_symbatcher_v1_RegisterWorker, _symbatcher_v1_RegisterWorker__Output>
      RunsStarted: MessageTypeDefinition<_symbatcher_v1_RunsStarted, _symbatcher_v1_RunsStarted__Output>
      Usage: MessageTypeDefinition<_symbatcher_v1_Usage, _symbatcher_v1_Usage__Output>
      Vector: MessageTypeDefinition<_symbatcher_v1_Vector, _symbatcher_v1_Vector__Output>
      WorkResult: MessageTypeDefinition<_symbatcher_v1_WorkResult, _symbatcher_v1_WorkResult__Output>
      WorkResultChunk: MessageTypeDefinition<_symbatcher_v1_WorkResultChunk, _symbatcher_v1_WorkResultChunk__Output>
      WorkerCommand: MessageTypeDefinition<_symbatcher_v1_WorkerCommand, _symbatcher_v1_WorkerCommand__Output>
      WorkerEngineCall: MessageTypeDefinition<_symbatcher_v1_WorkerEngineCall, _symbatcher_v1_WorkerEngineCall__Output>
      WorkerEngineCallChunk: MessageTypeDefinition<_symbatcher_v1_WorkerEngineCallChunk, _symbatcher_v1_WorkerEngineCallChunk__Output>
      WorkerMessage: MessageTypeDefinition<_symbatcher_v1_WorkerMessage, _symbatcher_v1_WorkerMessage__Output>
      WorkerRegistered: MessageTypeDefinition<_symbatcher_v1_WorkerRegistered, _symbatcher_v1_WorkerRegistered__Output>
      /**
       * A worker process: runs forward() for assigned items and sends the engine
       * calls those forwards make back to the server, which batches them.
       */
      WorkerService: SubtypeConstructor<typeof grpc.Client, _symbatcher_v1_WorkerServiceClient> & { service: _symbatcher_v1_WorkerServiceDefinition }
      WorkerUpdate: MessageTypeDefinition<_symbatcher_v1_WorkerUpdate, _symbatcher_v1_WorkerUpdate__Output>
    }
  }
}


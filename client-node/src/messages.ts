/**
 * The protocol messages this package reads and writes, under their proto
 * names. Every type comes from src/generated/ (`npm run gen:types`, from
 * proto/symbatcher/v1/ with the load options of proto.ts: proto field names,
 * 64-bit integers as numbers, enums as names, and `kind`/`value`/`outcome`
 * naming the oneof member set); nothing is written here by hand.
 *
 * A message this package receives is the decoded shape (`__Output`: every
 * field present); one it sends is the shape it may be written in (fields
 * optional). See proto/symbatcher/v1/ and docs/protocol.md for what each
 * field means.
 */

// -- common ---------------------------------------------------------------

export type { Codec__Output as Codec } from "./generated/symbatcher/v1/Codec";
export type { ErrorKind__Output as ErrorKind } from "./generated/symbatcher/v1/ErrorKind";
export type { ItemError__Output as ItemError } from "./generated/symbatcher/v1/ItemError";
export type { Outcome } from "./generated/symbatcher/v1/Outcome";
export type { EngineCall } from "./generated/symbatcher/v1/EngineCall";
export type { EngineReply__Output as EngineReply } from "./generated/symbatcher/v1/EngineReply";
export type { LatencyPercentiles__Output as LatencyPercentiles } from "./generated/symbatcher/v1/LatencyPercentiles";

// -- BatchService ---------------------------------------------------------

export type { JobSpec } from "./generated/symbatcher/v1/JobSpec";
export type { Item } from "./generated/symbatcher/v1/Item";
export type { BatchRequest } from "./generated/symbatcher/v1/BatchRequest";
export type { JobAccepted__Output as JobAccepted } from "./generated/symbatcher/v1/JobAccepted";
export type { ItemResult__Output as ItemResult } from "./generated/symbatcher/v1/ItemResult";
export type { JobSummary__Output as JobSummary } from "./generated/symbatcher/v1/JobSummary";
export type { BatchResponse__Output as BatchResponse } from "./generated/symbatcher/v1/BatchResponse";

// -- WorkerService --------------------------------------------------------

export type { RegisterWorker } from "./generated/symbatcher/v1/RegisterWorker";
export type { WorkResult } from "./generated/symbatcher/v1/WorkResult";
export type { WorkerEngineCall } from "./generated/symbatcher/v1/WorkerEngineCall";
export type { WorkerMessage } from "./generated/symbatcher/v1/WorkerMessage";
export type { JobInfo__Output as JobInfo } from "./generated/symbatcher/v1/JobInfo";
export type { Assignment__Output as Assignment } from "./generated/symbatcher/v1/Assignment";
export type { WorkerCommand__Output as WorkerCommand } from "./generated/symbatcher/v1/WorkerCommand";

// -- StatusService --------------------------------------------------------

export type { WorkerStatus__Output as WorkerStatus } from "./generated/symbatcher/v1/WorkerStatus";
export type { StatusResponse__Output as StatusResponse } from "./generated/symbatcher/v1/StatusResponse";

/** symbatcher for Node.js: a job client and an expression worker over the symbatcher protocol. */
export { Client, Job, type JobOptions, type JobResult } from "./client";
export {
  type ChatMessage,
  type Expression,
  type ForwardContext,
  Worker,
  type WorkerOptions,
  type WorkerStats,
} from "./worker";
export {
  CancelledError,
  ItemTimeoutError,
  EncodingError,
  EngineError,
  JobError,
  NoWorkerError,
  RemoteError,
  ServerStartError,
  ServerUnavailableError,
  SymbatcherError,
  WorkerLostError,
  fromItemError,
  fromServiceError,
} from "./errors";
export { EmbeddedServer, type ServerOptions, serverBinary } from "./server";
export { TOKEN_ENV, type ConnectionOptions, channelCredentials } from "./auth";
export type * from "./messages";

/**
 * The package's error classes, and the one place where gRPC errors (with the
 * server's `symbatcher-*` trailers) and wire errors become them.
 */
import { Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";

import type { ItemError } from "./messages";

/** Base class of every error this package raises. */
export class SymbatcherError extends Error {
  override name = "SymbatcherError";
}

/**
 * The server rejected or ended a job (or a worker's registration). `code` is
 * the gRPC status code's name, `kind` the server's error kind (e.g.
 * "invalid_argument", "unknown_engine", "protocol") and `field` the request
 * field at fault ("" when the error is not about one field).
 */
export class JobError extends SymbatcherError {
  override name = "JobError";
  readonly code: string;
  readonly kind: string;
  readonly field: string;

  constructor(message: string, options: { code?: string; kind?: string; field?: string } = {}) {
    super(message);
    this.code = options.code ?? "";
    this.kind = options.kind ?? "";
    this.field = options.field ?? "";
  }
}

/** No worker served the job's expression within its wait time. */
export class NoWorkerError extends JobError {
  override name = "NoWorkerError";
  readonly expression: string;
  /** How long the job waited, in ms; undefined when the server did not say. */
  readonly waitedMs: number | undefined;

  constructor(
    message: string,
    options: { code?: string; kind?: string; expression?: string; waitedMs?: number } = {},
  ) {
    super(message, options);
    this.expression = options.expression ?? "";
    this.waitedMs = options.waitedMs;
  }
}

/** The embedded server could not start; the message holds its own output. */
export class ServerStartError extends SymbatcherError {
  override name = "ServerStartError";
}

/** The server cannot be reached, or is shutting down. */
export class ServerUnavailableError extends SymbatcherError {
  override name = "ServerUnavailableError";
}

/** An engine failed a call (or its whole batch); the text is the engine's. */
export class EngineError extends SymbatcherError {
  override name = "EngineError";
}

/** The item's worker disconnected more often than the job allows. */
export class WorkerLostError extends SymbatcherError {
  override name = "WorkerLostError";
}

/** A value could not be encoded for the wire, or decoded from it. */
export class EncodingError extends SymbatcherError {
  override name = "EncodingError";
}

/** The run was cancelled (its job ended or the worker stopped): engine calls of it reject with this. */
/** The item ran longer than its job's item timeout. */
export class ItemTimeoutError extends SymbatcherError {
  override name = "ItemTimeoutError";
}

export class CancelledError extends SymbatcherError {
  override name = "CancelledError";
}

/** An error raised in another process (a worker), with its type name and traceback. */
export class RemoteError extends SymbatcherError {
  override name = "RemoteError";
  readonly typeName: string;
  readonly remoteMessage: string;
  readonly traceback: string;

  constructor(typeName: string, message: string, traceback = "") {
    super(typeName ? `${typeName}: ${message}` : message);
    this.typeName = typeName;
    this.remoteMessage = message;
    this.traceback = traceback;
  }
}

/** Server error trailers (`symbatcher-error-kind`, `-field`, `-expression`, `-waited-ms`). */
function trailer(metadata: Metadata | undefined, key: string): string {
  const values = metadata?.get(key) ?? [];
  const value = values[0];
  return typeof value === "string" ? value : "";
}

/** Maps a failed RPC to the package's errors, from its status code and trailers. */
export function fromServiceError(err: ServiceError, address = ""): SymbatcherError {
  const code = Status[err.code] ?? "UNKNOWN";
  const details = err.details || err.message;
  const kind = trailer(err.metadata, "symbatcher-error-kind");
  const field = trailer(err.metadata, "symbatcher-field");
  if (kind === "no_worker" || err.code === Status.FAILED_PRECONDITION) {
    const waited = trailer(err.metadata, "symbatcher-waited-ms");
    const message = address ? details.replace("--server ADDR", `--server ${address}`) : details;
    return new NoWorkerError(message, {
      code,
      kind,
      expression: trailer(err.metadata, "symbatcher-expression"),
      waitedMs: /^\d+$/.test(waited) ? Number(waited) : undefined,
    });
  }
  if (err.code === Status.UNAVAILABLE || err.code === Status.DEADLINE_EXCEEDED) {
    const where = address ? ` at ${address}` : "";
    return new ServerUnavailableError(`symbatcher server${where} is unavailable: ${details}`);
  }
  if (err.code === Status.INVALID_ARGUMENT) {
    return new JobError(`job rejected: ${details}`, { code, kind, field });
  }
  return new JobError(`${code}: ${details}`, { code, kind, field });
}

/** True for errors raised by @grpc/grpc-js for a failed call. */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number";
}

/** The error object for an ItemError that arrived over the wire. */
export function fromItemError(err: ItemError): Error {
  switch (err.kind) {
    case "ERROR_KIND_ENGINE":
      return new EngineError(err.message);
    case "ERROR_KIND_WORKER_LOST":
      return new WorkerLostError(err.message);
    case "ERROR_KIND_ENCODING":
      return new EncodingError(err.message);
    case "ERROR_KIND_CANCELLED":
      return new CancelledError(err.message);
    case "ERROR_KIND_NO_WORKER":
      return new NoWorkerError(err.message);
    case "ERROR_KIND_TIMEOUT":
      return new ItemTimeoutError(err.message);
    default:
      return new RemoteError(err.type, err.message, err.traceback);
  }
}

/**
 * Loads the protocol at run time from the package's own `proto/` (a copy of
 * the repository's `proto/` that `npm run build` makes and the package
 * ships) and exposes the service clients.
 *
 * Messages are plain objects with the proto's own field names (snake_case),
 * 64-bit integers as JavaScript numbers, enums as their names and oneofs
 * with a virtual `kind` field naming the member that is set. The types in
 * src/generated/ describe exactly these objects: scripts/gen-types.js passes
 * proto-loader-gen-types the same options as `load()` below.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

import type { ProtoGrpcType as BatchProto } from "./generated/batch";
import type { ProtoGrpcType as EngineProto } from "./generated/engine";
import type { ProtoGrpcType as StatusProto } from "./generated/status";
import type { ProtoGrpcType as WorkerProto } from "./generated/worker";

/** The package's `proto/` directory (this file is `dist/src/proto.js`). */
export const DEFAULT_PROTO_DIR = path.resolve(__dirname, "..", "..", "proto");

const FILES = ["batch.proto", "worker.proto", "engine.proto", "status.proto"].map(
  (name) => `symbatcher/v1/${name}`,
);

/** Largest message sent or received, as the server allows (64 MiB). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Channel options every connection uses. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
};

type V1 = BatchProto["symbatcher"]["v1"] &
  WorkerProto["symbatcher"]["v1"] &
  EngineProto["symbatcher"]["v1"] &
  StatusProto["symbatcher"]["v1"];

/** The symbatcher services' client constructors, typed by src/generated/. */
export interface Services {
  BatchService: V1["BatchService"];
  WorkerService: V1["WorkerService"];
  EngineService: V1["EngineService"];
  StatusService: V1["StatusService"];
}

let loaded: Services | undefined;

/** The services, loaded once from `$SYMBATCHER_PROTO_DIR` or the package's `proto/`. */
export function services(): Services {
  if (loaded === undefined) {
    loaded = load(process.env.SYMBATCHER_PROTO_DIR || DEFAULT_PROTO_DIR);
  }
  return loaded;
}

function load(protoDir: string): Services {
  const missing = FILES.find((file) => !fs.existsSync(path.join(protoDir, file)));
  if (missing !== undefined) {
    throw new Error(
      `proto: ${path.join(protoDir, missing)} not found; in the repository, \`npm run build\` ` +
        "copies proto/ into the package; or set SYMBATCHER_PROTO_DIR to a directory holding symbatcher/v1/*.proto",
    );
  }
  const definition = protoLoader.loadSync(FILES, {
    includeDirs: [protoDir],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition) as unknown as { symbatcher: { v1: V1 } };
  const v1 = root.symbatcher.v1;
  return {
    BatchService: v1.BatchService,
    WorkerService: v1.WorkerService,
    EngineService: v1.EngineService,
    StatusService: v1.StatusService,
  };
}

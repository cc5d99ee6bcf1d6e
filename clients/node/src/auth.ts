/**
 * The bearer token a server may require (`authorization: Bearer TOKEN` on
 * every call but health). It defaults to $SYMBATCHER_AUTH_TOKEN, as the
 * Python client and CLIs do; an empty token sends none.
 */
import * as grpc from "@grpc/grpc-js";

import { CHANNEL_OPTIONS } from "./proto";

/** Environment variable holding the token clients and workers send. */
export const TOKEN_ENV = "SYMBATCHER_AUTH_TOKEN";

/** Client options that attach `token` (default: $SYMBATCHER_AUTH_TOKEN) to every call. */
export function clientOptions(token?: string): grpc.ClientOptions {
  const bearer = (token ?? process.env[TOKEN_ENV] ?? "").trim();
  if (bearer === "") return { ...CHANNEL_OPTIONS };
  const attach: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", `Bearer ${bearer}`);
        next(metadata, listener);
      },
    });
  return { ...CHANNEL_OPTIONS, interceptors: [attach] };
}

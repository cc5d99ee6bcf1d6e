/**
 * The bearer token a server may require (`authorization: Bearer TOKEN` on
 * every call but health). It defaults to $SYMBATCHER_AUTH_TOKEN, as the
 * Python client and CLIs do; an empty token sends none.
 */
import * as fs from "node:fs";

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

/**
 * How a client or worker reaches a server: its token, and TLS. `tlsCa`,
 * `tlsClientCert` and `tlsClientKey` are paths to PEM files (the names match
 * the Python client's `tls_ca`, `tls_client_cert`, `tls_client_key`).
 */
export interface ConnectionOptions {
  /** Bearer token the server requires (default: $SYMBATCHER_AUTH_TOKEN). */
  token?: string;
  /** Connect with TLS, verifying the server against the system's CAs (or `tlsCa`). */
  tls?: boolean;
  /** PEM CA certificate the server's certificate must chain to; implies `tls`. */
  tlsCa?: string;
  /**
   * PEM client certificate (chain) presented to a server that verifies
   * clients (`symbatcher-server --tls-client-ca`, mutual TLS); needs
   * `tlsClientKey`; implies `tls`.
   */
  tlsClientCert?: string;
  /** PEM private key of `tlsClientCert`. */
  tlsClientKey?: string;
}

function readPem(option: string, path: string): Buffer {
  try {
    return fs.readFileSync(path);
  } catch (err) {
    throw new RangeError(`${option}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The channel credentials `options` ask for: plaintext, TLS, or TLS with a client certificate. */
export function channelCredentials(options: ConnectionOptions = {}): grpc.ChannelCredentials {
  const { tlsCa, tlsClientCert, tlsClientKey } = options;
  if ((tlsClientCert === undefined) !== (tlsClientKey === undefined)) {
    const [given, missing] =
      tlsClientCert !== undefined ? ["tlsClientCert", "tlsClientKey"] : ["tlsClientKey", "tlsClientCert"];
    throw new RangeError(`${given}: needs ${missing} too (the client certificate and its key)`);
  }
  if (!options.tls && tlsCa === undefined && tlsClientCert === undefined) {
    return grpc.credentials.createInsecure();
  }
  return grpc.credentials.createSsl(
    tlsCa !== undefined ? readPem("tlsCa", tlsCa) : null,
    tlsClientKey !== undefined ? readPem("tlsClientKey", tlsClientKey) : null,
    tlsClientCert !== undefined ? readPem("tlsClientCert", tlsClientCert) : null,
  );
}

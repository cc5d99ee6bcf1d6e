/** JSON payloads: the only codec a Node client or worker reads and writes. */
import { EncodingError } from "./errors";

/** Encodes a value as UTF-8 JSON bytes; `what` names it in the error. */
export function encode(value: unknown, what: string): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new EncodingError(`${what} cannot be encoded as JSON: ${(err as Error).message}`);
  }
  if (text === undefined) {
    throw new EncodingError(`${what} cannot be encoded as JSON: ${typeof value} has no JSON form`);
  }
  return Buffer.from(text, "utf8");
}

/** Decodes UTF-8 JSON bytes; `what` names the value in the error. */
export function decode(payload: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch (err) {
    throw new EncodingError(`${what} is not JSON: ${(err as Error).message}`);
  }
}

// Original file: ../proto/symbatcher/v1/common.proto

/**
 * How item payloads, results and kwargs are encoded. The server never decodes
 * payloads; it only carries them between clients and workers. Set per job in
 * JobSpec.codec and told to workers in JobInfo.codec.
 */
export const Codec = {
  /**
   * Treated as CODEC_JSON (the default).
   */
  CODEC_UNSPECIFIED: 'CODEC_UNSPECIFIED',
  /**
   * UTF-8 JSON: each payload is one JSON value. Any language can be a client
   * or worker.
   */
  CODEC_JSON: 'CODEC_JSON',
  /**
   * Python pickle: Python clients and workers only, trusted networks only.
   */
  CODEC_PICKLE: 'CODEC_PICKLE',
} as const;

/**
 * How item payloads, results and kwargs are encoded. The server never decodes
 * payloads; it only carries them between clients and workers. Set per job in
 * JobSpec.codec and told to workers in JobInfo.codec.
 */
export type Codec =
  /**
   * Treated as CODEC_JSON (the default).
   */
  | 'CODEC_UNSPECIFIED'
  | 0
  /**
   * UTF-8 JSON: each payload is one JSON value. Any language can be a client
   * or worker.
   */
  | 'CODEC_JSON'
  | 1
  /**
   * Python pickle: Python clients and workers only, trusted networks only.
   */
  | 'CODEC_PICKLE'
  | 2

/**
 * How item payloads, results and kwargs are encoded. The server never decodes
 * payloads; it only carries them between clients and workers. Set per job in
 * JobSpec.codec and told to workers in JobInfo.codec.
 */
export type Codec__Output = typeof Codec[keyof typeof Codec]

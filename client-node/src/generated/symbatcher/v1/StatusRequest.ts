// Original file: ../proto/symbatcher/v1/status.proto


/**
 * Asks for a snapshot; it has no fields.
 */
export interface StatusRequest {
}

/**
 * Asks for a snapshot; it has no fields.
 */
export interface StatusRequest__Output {
}

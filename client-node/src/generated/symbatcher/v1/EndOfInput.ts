// Original file: ../proto/symbatcher/v1/batch.proto


/**
 * The client sends no more items.
 */
export interface EndOfInput {
}

/**
 * The client sends no more items.
 */
export interface EndOfInput__Output {
}

// Original file: ../proto/symbatcher/v1/worker.proto


/**
 * Sent by a worker that declared RegisterWorker.heartbeat_interval_ms, from
 * the loop that reads its commands and writes its messages, whenever that
 * long has passed without another message. HTTP/2 pings do not prove the
 * loop runs (the transport answers them while the loop is blocked); this
 * does.
 */
export interface Heartbeat {
}

/**
 * Sent by a worker that declared RegisterWorker.heartbeat_interval_ms, from
 * the loop that reads its commands and writes its messages, whenever that
 * long has passed without another message. HTTP/2 pings do not prove the
 * loop runs (the transport answers them while the loop is blocked); this
 * does.
 */
export interface Heartbeat__Output {
}

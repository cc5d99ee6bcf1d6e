// Original file: ../proto/symbatcher/v1/worker.proto

import type { Codec as _symbatcher_v1_Codec, Codec__Output as _symbatcher_v1_Codec__Output } from '../../symbatcher/v1/Codec';
import type { Long } from '@grpc/proto-loader';

/**
 * Sent once per job to each worker, before the job's first assignment.
 */
export interface JobInfo {
  /**
   * The job's id; assignments name it.
   */
  'job_id'?: (number | string | Long);
  /**
   * The expression to run, one of the names the worker registered.
   */
  'expression'?: (string);
  /**
   * JSON object of keyword arguments for every forward() of the job; "{}"
   * when the job gave none.
   */
  'kwargs_json'?: (string);
  /**
   * Encoding of the job's item payloads and of the results to send (never
   * CODEC_UNSPECIFIED).
   */
  'codec'?: (_symbatcher_v1_Codec);
  /**
   * Whether the job's engine reads EngineCall.messages_json. When false the
   * worker may leave it empty and save building chat messages per call.
   */
  'engine_wants_messages'?: (boolean);
  /**
   * How many engine calls of this job the server gathers into one batch (the
   * job's batch_size, capped by its engine's; a batch-API engine's own batch
   * size; 1 for an engine that sends every call on its own). A worker may hold
   * back the calls its slots make until this many wait, or until every slot
   * waits, and send them in one message: sent earlier they would only wait in
   * the server's queue. Set when the job is admitted. 0 from a server that
   * does not say: send each call at once.
   */
  'call_batch_size'?: (number);
  /**
   * The job's max_queue_delay_ms (0 included: no wait). A slot running
   * longer than this without an engine call (CPU work, a hang) holds back no
   * other slot's messages: the worker sends what the others made without
   * waiting for it, as the server no longer waits for such a run before it
   * forms a batch. Unset from a server that does not say.
   */
  'max_queue_delay_ms'?: (number);
  /**
   * True when the job's engine calls wait on a provider batch (hours), the
   * job replays (JobSpec.replay) and this worker registered `replays`: a
   * call not answered at once is answered ERROR_KIND_PARKED, the run gives
   * its slot back, and the item runs again from the start once its calls
   * are answered, its earlier calls answered from the replies the server
   * kept. False: a run waits in its slot for every reply.
   */
  'replay_calls'?: (boolean);
  /**
   * True when the job has an engine for embedding calls
   * (JobSpec.embedding_engine, or the server's default): the worker sends
   * them to the server. False: a call sent anyway is answered with an error
   * naming the kind and how to configure an engine for it; a Python worker
   * lets symai's own configured embedding engine answer in its process
   * instead, when symai has one.
   */
  'has_embedding_engine'?: (boolean);
  '_max_queue_delay_ms'?: "max_queue_delay_ms";
}

/**
 * Sent once per job to each worker, before the job's first assignment.
 */
export interface JobInfo__Output {
  /**
   * The job's id; assignments name it.
   */
  'job_id': (number);
  /**
   * The expression to run, one of the names the worker registered.
   */
  'expression': (string);
  /**
   * JSON object of keyword arguments for every forward() of the job; "{}"
   * when the job gave none.
   */
  'kwargs_json': (string);
  /**
   * Encoding of the job's item payloads and of the results to send (never
   * CODEC_UNSPECIFIED).
   */
  'codec': (_symbatcher_v1_Codec__Output);
  /**
   * Whether the job's engine reads EngineCall.messages_json. When false the
   * worker may leave it empty and save building chat messages per call.
   */
  'engine_wants_messages': (boolean);
  /**
   * How many engine calls of this job the server gathers into one batch (the
   * job's batch_size, capped by its engine's; a batch-API engine's own batch
   * size; 1 for an engine that sends every call on its own). A worker may hold
   * back the calls its slots make until this many wait, or until every slot
   * waits, and send them in one message: sent earlier they would only wait in
   * the server's queue. Set when the job is admitted. 0 from a server that
   * does not say: send each call at once.
   */
  'call_batch_size': (number);
  /**
   * The job's max_queue_delay_ms (0 included: no wait). A slot running
   * longer than this without an engine call (CPU work, a hang) holds back no
   * other slot's messages: the worker sends what the others made without
   * waiting for it, as the server no longer waits for such a run before it
   * forms a batch. Unset from a server that does not say.
   */
  'max_queue_delay_ms'?: (number);
  /**
   * True when the job's engine calls wait on a provider batch (hours), the
   * job replays (JobSpec.replay) and this worker registered `replays`: a
   * call not answered at once is answered ERROR_KIND_PARKED, the run gives
   * its slot back, and the item runs again from the start once its calls
   * are answered, its earlier calls answered from the replies the server
   * kept. False: a run waits in its slot for every reply.
   */
  'replay_calls': (boolean);
  /**
   * True when the job has an engine for embedding calls
   * (JobSpec.embedding_engine, or the server's default): the worker sends
   * them to the server. False: a call sent anyway is answered with an error
   * naming the kind and how to configure an engine for it; a Python worker
   * lets symai's own configured embedding engine answer in its process
   * instead, when symai has one.
   */
  'has_embedding_engine': (boolean);
  '_max_queue_delay_ms'?: "max_queue_delay_ms";
}

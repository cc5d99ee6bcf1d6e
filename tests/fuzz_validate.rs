//! Property tests of the decode-and-validate path at the gRPC edge: arbitrary
//! bytes as the messages of `BatchService.Batch`, `WorkerService.Work` and
//! `EngineService.Serve`, and arbitrary JobSpec field values, sent to a real
//! server over the in-memory transport.
//!
//! Whatever arrives, the server answers: it accepts, or it rejects with
//! InvalidArgument carrying the `symbatcher-error-kind` trailer (and the
//! `symbatcher-field` trailer when a field is at fault); a job it accepted
//! ends normally or with a status that carries the trailer. A panic in the
//! server would end a stream with another status and fail the property.
//!
//! Cases per property: proptest's default (256), or `PROPTEST_CASES`:
//! `PROPTEST_CASES=100000 cargo test --release --test fuzz_validate`.

mod common;

use std::future::Future;

use bytes::{Buf, BufMut};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use common::{config, spawn_server, TestServer};
use symbatcher::config::{MAX_BATCH_SIZE, MAX_WINDOW};
use symbatcher::pb::v1::{
    batch_request, batch_response, worker_command, BatchRequest, BatchResponse, JobSpec,
    WorkerCommand,
};

const BATCH: &str = "/symbatcher.v1.BatchService/Batch";
const WORK: &str = "/symbatcher.v1.WorkerService/Work";
const SERVE: &str = "/symbatcher.v1.EngineService/Serve";

/// Sends and receives messages as raw bytes, so the server decodes whatever
/// the test sends.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len).to_vec()))
    }
}

/// How a stream ended: the messages the server sent, and its final status
/// (None when it ended cleanly).
struct Exchange {
    responses: Vec<Vec<u8>>,
    status: Option<Status>,
}

/// Opens `path`, sends `messages` and half-closes, reads until the server ends
/// the stream or `max_responses` arrived.
async fn exchange(
    channel: &Channel,
    path: &'static str,
    messages: Vec<Vec<u8>>,
    max_responses: usize,
) -> Exchange {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("in-memory channel ready");
    let request = Request::new(tokio_stream::iter(messages));
    let mut responses = Vec::new();
    let stream = grpc
        .streaming(request, PathAndQuery::from_static(path), RawCodec)
        .await;
    let mut stream = match stream {
        Ok(response) => response.into_inner(),
        Err(status) => {
            return Exchange {
                responses,
                status: Some(status),
            }
        }
    };
    while responses.len() < max_responses {
        match common::within("a response", stream.message()).await {
            Ok(Some(message)) => responses.push(message),
            Ok(None) => break,
            Err(status) => {
                return Exchange {
                    responses,
                    status: Some(status),
                }
            }
        }
    }
    Exchange {
        responses,
        status: None,
    }
}

fn trailer<'a>(status: &'a Status, key: &str) -> Option<&'a str> {
    status.metadata().get(key).and_then(|v| v.to_str().ok())
}

/// Checks a rejection: one of `codes`, with the kind trailer, and the field
/// trailer (named at the start of the message) for an invalid field.
fn check_rejection(status: &Status, codes: &[Code]) {
    assert!(
        codes.contains(&status.code()),
        "unexpected status {:?}: {}",
        status.code(),
        status.message()
    );
    let kind = trailer(status, symbatcher::error::metadata::KIND)
        .unwrap_or_else(|| panic!("no kind trailer on {status:?}"));
    if kind == "invalid_argument" {
        let field = trailer(status, symbatcher::error::metadata::FIELD)
            .unwrap_or_else(|| panic!("no field trailer on {status:?}"));
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "the message names another field than {field}: {}",
            status.message()
        );
    }
}

/// Runs `property` for the cases of `strategy` on one server, on a paused clock.
fn check<S, F, Fut>(strategy: S, property: F)
where
    S: Strategy,
    F: Fn(Channel, S::Value) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a test runtime");
    let server: TestServer = runtime.block_on(spawn_server(config()));
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |value| {
        runtime.block_on(property(server.channel.clone(), value));
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    // Still serving after everything it was sent.
    runtime.block_on(server.status());
    drop(server);
}

fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

/// Bytes that are a real message of `M` now and then, so that the decoded
/// path (not only decode errors) runs.
fn message_bytes<M>(real: impl Strategy<Value = M>) -> impl Strategy<Value = Vec<u8>>
where
    M: Message + std::fmt::Debug + 'static,
{
    prop_oneof![
        arbitrary_bytes(),
        real.prop_map(|m| m.encode_to_vec()),
        (real_bytes_prefix(), arbitrary_bytes()).prop_map(|(mut a, b)| {
            a.extend(b);
            a
        }),
    ]
}

/// A field tag (1..=9, any wire type) and a short length, to reach past the
/// first byte more often than uniform bytes do.
fn real_bytes_prefix() -> impl Strategy<Value = Vec<u8>> {
    (1u8..=9, 0u8..=5, 0u8..=16).prop_map(|(field, wire, len)| vec![field << 3 | wire, len])
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("  ".to_string()),
        Just("echo".to_string()),
        "[a-z:._]{1,12}",
        any::<String>(),
    ]
}

fn number(max: u32) -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(max),
        Just(max.saturating_add(1)),
        Just(u32::MAX),
        any::<u32>(),
    ]
}

/// An optional field: unset (the server's default), or set to any number.
fn optional_number(max: u32) -> impl Strategy<Value = Option<u32>> {
    prop_oneof![Just(None), number(max).prop_map(Some)]
}

fn kwargs_json() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("{}".to_string()),
        Just(r#"{"temperature": 0.2}"#.to_string()),
        Just("[1, 2]".to_string()),
        Just("null".to_string()),
        Just("{".to_string()),
        any::<String>(),
    ]
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    (
        text(),
        number(MAX_BATCH_SIZE),
        optional_number(60_000),
        kwargs_json(),
        prop_oneof![Just(0), Just(1), Just(2), Just(3), any::<i32>()],
        prop_oneof![Just(String::new()), Just("echo".to_string()), text()],
        optional_number(MAX_WINDOW),
        optional_number(100),
        optional_number(100),
        prop_oneof![
            Just(None),
            Just(Some(0)),
            (1u32..=100_000).prop_map(Some),
            any::<u32>().prop_map(Some)
        ],
    )
        .prop_map(
            |(
                expression,
                batch_size,
                delay,
                kwargs_json,
                codec,
                engine,
                window,
                attempts,
                wait,
                item_timeout_ms,
            )| {
                JobSpec {
                    expression,
                    batch_size,
                    max_queue_delay_ms: delay,
                    kwargs_json,
                    codec,
                    engine,
                    window,
                    max_attempts: attempts,
                    worker_wait_ms: wait,
                    item_timeout_ms,
                    process_token: String::new(),
                    cache: 0,
                    max_cost_usd: None,
                    replay: None,
                    deadline_unix_ms: None,
                    embedding_engine: String::new(),
                }
            },
        )
}

/// The fields of `spec` the server must refuse (empty when it must accept).
fn invalid_fields(spec: &JobSpec) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if spec.expression.trim().is_empty() {
        fields.push("expression");
    }
    if !(1..=MAX_BATCH_SIZE).contains(&spec.batch_size) {
        fields.push("batch_size");
    }
    if spec.max_queue_delay_ms.is_some_and(|ms| ms > 60_000) {
        fields.push("max_queue_delay_ms");
    }
    let kwargs = spec.kwargs_json.trim();
    if !kwargs.is_empty()
        && !matches!(
            serde_json::from_str::<serde_json::Value>(&spec.kwargs_json),
            Ok(serde_json::Value::Object(_))
        )
    {
        fields.push("kwargs_json");
    }
    // Pickle (2) only where the server allows it (--allow-pickle); the
    // test server does not.
    if !(0..=1).contains(&spec.codec) {
        fields.push("codec");
    }
    if spec.window.is_some_and(|w| w == 0 || w > MAX_WINDOW) {
        fields.push("window");
    }
    if spec.max_attempts.is_some_and(|n| n == 0 || n > 100) {
        fields.push("max_attempts");
    }
    if spec
        .item_timeout_ms
        .is_some_and(|ms| ms == 0 || u64::from(ms) > 86_400_000)
    {
        fields.push("item_timeout_ms");
    }
    // Blank (only whitespace) is unset: the server's default engine, echo here.
    if !(spec.engine.trim().is_empty() || spec.engine == "echo") {
        fields.push("engine");
    }
    fields
}

fn spec_request(spec: JobSpec) -> Vec<u8> {
    BatchRequest {
        kind: Some(batch_request::Kind::Spec(spec)),
    }
    .encode_to_vec()
}

#[test]
fn job_specs_are_accepted_exactly_when_valid() {
    check(job_spec(), |channel, spec| async move {
        let invalid = invalid_fields(&spec);
        let out = exchange(&channel, BATCH, vec![spec_request(spec.clone())], 1).await;
        match (&out.status, invalid.is_empty()) {
            (None, true) => {
                let first = BatchResponse::decode(out.responses[0].as_slice())
                    .expect("the server's response decodes");
                assert!(matches!(
                    first.kind,
                    Some(batch_response::Kind::Accepted(_))
                ));
            }
            (Some(status), false) => {
                check_rejection(status, &[Code::InvalidArgument]);
                let field = trailer(status, symbatcher::error::metadata::FIELD)
                    .unwrap_or_else(|| panic!("no field trailer on {status:?}"));
                assert!(
                    invalid.contains(&field),
                    "rejected for {field}, invalid: {invalid:?} ({spec:?})"
                );
            }
            (status, _) => panic!("{spec:?}: invalid {invalid:?}, got {status:?}"),
        }
    });
}

#[test]
fn arbitrary_job_streams_are_accepted_or_rejected_with_trailers() {
    let first = message_bytes(job_spec().prop_map(|spec| BatchRequest {
        kind: Some(batch_request::Kind::Spec(spec)),
    }));
    let rest = prop::collection::vec(arbitrary_bytes(), 0..3);
    check((first, rest), |channel, (first, rest)| async move {
        let mut messages = vec![first];
        messages.extend(rest);
        // Reads the whole job: with no worker, an accepted job with items
        // ends with no_worker once its wait is over (virtual time).
        let out = exchange(&channel, BATCH, messages, usize::MAX).await;
        for response in &out.responses {
            BatchResponse::decode(response.as_slice()).expect("the server's response decodes");
        }
        if let Some(status) = &out.status {
            check_rejection(status, &[Code::InvalidArgument, Code::FailedPrecondition]);
        }
    });
}

#[test]
fn arbitrary_worker_registrations_are_accepted_or_rejected_with_trailers() {
    check(arbitrary_bytes(), |channel, bytes| async move {
        let out = exchange(&channel, WORK, vec![bytes], 1).await;
        match &out.status {
            Some(status) => check_rejection(status, &[Code::InvalidArgument]),
            None => {
                let first = WorkerCommand::decode(out.responses[0].as_slice())
                    .expect("the server's response decodes");
                assert!(matches!(
                    first.kind,
                    Some(worker_command::Kind::Registered(_))
                ));
            }
        }
    });
}

#[test]
fn arbitrary_engine_registrations_are_accepted_or_rejected_with_trailers() {
    check(arbitrary_bytes(), |channel, bytes| async move {
        let out = exchange(&channel, SERVE, vec![bytes], 1).await;
        if let Some(status) = &out.status {
            // A name already taken (`echo`) is AlreadyExists.
            check_rejection(status, &[Code::InvalidArgument, Code::AlreadyExists]);
        }
    });
}

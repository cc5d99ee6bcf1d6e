//! Authentication and the other guards of the server: bearer tokens and
//! their roles on every service (health excepted), pickle refused unless
//! allowed, engine names first-come, and the binary's refusal to listen on a
//! non-loopback address without authentication.

mod common;

use std::process::Command;

use tokio_stream::StreamExt;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::ServerReflectionRequest;

use common::*;
use symbatcher::auth::{AuthConfig, Role, Token};
use symbatcher::pb::v1::batch_service_client::BatchServiceClient;
use symbatcher::pb::v1::engine_service_client::EngineServiceClient;
use symbatcher::pb::v1::status_service_client::StatusServiceClient;
use symbatcher::pb::v1::worker_service_client::WorkerServiceClient;
use symbatcher::pb::v1::{
    batch_request, engine_worker_message, worker_message, BatchRequest, Codec, EngineWorkerMessage,
    JobSpec, RegisterEngine, RegisterWorker, StatusRequest, WorkerMessage,
};
use symbatcher::ServerConfig;

const MAIN: &str = "main-token-aaaaaaaaaaaaaaaa";
const CLIENT: &str = "client-token-bbbbbbbbbbbbbbbb";
const WORKER: &str = "worker-token-cccccccccccccccc";
const STATUS: &str = "status-token-dddddddddddddddd";

fn config_with_roles() -> ServerConfig {
    let mut auth = AuthConfig::default();
    for (role, token) in [
        (Role::Main, MAIN),
        (Role::Client, CLIENT),
        (Role::Worker, WORKER),
        (Role::Status, STATUS),
    ] {
        auth.add(role, Token::new(token).expect("valid token"))
            .expect("distinct tokens");
    }
    let mut config = config();
    config.auth = auth;
    config
}

/// Adds the `authorization` header to a request.
type AddHeader = Box<dyn FnMut(Request<()>) -> Result<Request<()>, Status> + Send>;

type Authed = InterceptedService<Channel, AddHeader>;

/// `channel` with `authorization: <header>` on every call (none for None).
fn authed(channel: &Channel, header: Option<String>) -> Authed {
    let add: AddHeader = Box::new(move |mut request: Request<()>| {
        if let Some(header) = &header {
            let value: MetadataValue<_> = header.parse().expect("ascii header");
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    });
    InterceptedService::new(channel.clone(), add)
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Batch,
    Work,
    Serve,
    Status,
    Reflection,
}

const ALL: [Rpc; 5] = [
    Rpc::Batch,
    Rpc::Work,
    Rpc::Serve,
    Rpc::Status,
    Rpc::Reflection,
];

/// Calls `rpc` with `header`: Ok when the server answered it, else the
/// refusal.
async fn call(channel: &Channel, rpc: Rpc, header: Option<String>, n: u32) -> Result<(), Status> {
    let service = authed(channel, header);
    match rpc {
        Rpc::Batch => {
            let spec = JobSpec {
                expression: "tests.auth:Job".into(),
                batch_size: 1,
                ..Default::default()
            };
            let first = BatchRequest {
                kind: Some(batch_request::Kind::Spec(spec)),
            };
            let mut responses = BatchServiceClient::new(service)
                .batch(tokio_stream::iter(vec![first]).chain(tokio_stream::pending()))
                .await?
                .into_inner();
            responses.message().await?.expect("JobAccepted");
        }
        Rpc::Work => {
            let register = WorkerMessage {
                kind: Some(worker_message::Kind::Register(RegisterWorker {
                    name: format!("w{n}"),
                    expressions: vec!["tests.auth:Job".into()],
                    concurrency: 1,
                    ..Default::default()
                })),
            };
            let mut commands = WorkerServiceClient::new(service)
                .work(tokio_stream::iter(vec![register]).chain(tokio_stream::pending()))
                .await?
                .into_inner();
            commands.message().await?.expect("WorkerRegistered");
        }
        Rpc::Serve => {
            let register = EngineWorkerMessage {
                kind: Some(engine_worker_message::Kind::Register(RegisterEngine {
                    name: format!("engine-{n}"),
                    max_concurrency: Some(1),
                    cache_by_default: false,
                    ..Default::default()
                })),
            };
            let mut commands = EngineServiceClient::new(service)
                .serve(tokio_stream::iter(vec![register]).chain(tokio_stream::pending()))
                .await?
                .into_inner();
            commands.message().await?.expect("EngineRegistered");
        }
        Rpc::Status => {
            StatusServiceClient::new(service)
                .status(StatusRequest {})
                .await?;
        }
        Rpc::Reflection => {
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut replies = ServerReflectionClient::new(service)
                .server_reflection_info(tokio_stream::iter(vec![request]))
                .await?
                .into_inner();
            replies.message().await?.expect("a reply");
        }
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn without_a_valid_token_every_rpc_but_health_is_unauthenticated() {
    let server = spawn_server(config_with_roles()).await;
    let wrong = "wrong-token-eeeeeeeeeeeeeeee";
    for header in [
        None,
        bearer(wrong),
        Some(format!("Basic {MAIN}")),
        bearer(""),
    ] {
        for rpc in ALL {
            let err = call(&server.channel, rpc, header.clone(), 0)
                .await
                .expect_err("refused");
            assert_eq!(
                err.code(),
                Code::Unauthenticated,
                "{rpc:?} {header:?}: {err:?}"
            );
            // The message never echoes what was sent.
            assert!(!err.message().contains(wrong), "{err:?}");
            assert!(!err.message().contains(MAIN), "{err:?}");
            let kind = err.metadata().get("symbatcher-error-kind");
            assert_eq!(kind.expect("error kind"), "unauthenticated");
        }
    }
    // Health needs no token.
    let reply = HealthClient::new(server.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers without a token");
    assert_eq!(reply.into_inner().status, 1, "SERVING");
}

#[tokio::test(start_paused = true)]
async fn each_role_opens_its_own_services_only() {
    let server = spawn_server(config_with_roles()).await;
    let table: [(&str, &[Rpc]); 4] = [
        (MAIN, &ALL),
        (CLIENT, &[Rpc::Batch]),
        (WORKER, &[Rpc::Work, Rpc::Serve]),
        (STATUS, &[Rpc::Status, Rpc::Reflection]),
    ];
    let mut n = 0;
    for (token, allowed) in table {
        for rpc in ALL {
            n += 1;
            let result = call(&server.channel, rpc, bearer(token), n).await;
            if allowed.contains(&rpc) {
                result.unwrap_or_else(|err| panic!("{token}: {rpc:?} refused: {err:?}"));
            } else {
                let err = result.expect_err("refused");
                assert_eq!(
                    err.code(),
                    Code::PermissionDenied,
                    "{token} {rpc:?}: {err:?}"
                );
                assert!(!err.message().contains(token), "{err:?}");
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_engine_name_is_first_come_while_its_engine_is_connected() {
    let server = spawn_server(config_with_roles()).await;
    let register = |name: &str| EngineWorkerMessage {
        kind: Some(engine_worker_message::Kind::Register(RegisterEngine {
            name: name.to_string(),
            max_concurrency: Some(1),
            cache_by_default: false,
            ..Default::default()
        })),
    };
    let (first_tx, first_rx) = tokio::sync::mpsc::channel(4);
    first_tx.send(register("shared")).await.expect("open");
    let mut first = EngineServiceClient::new(authed(&server.channel, bearer(WORKER)))
        .serve(tokio_stream::wrappers::ReceiverStream::new(first_rx))
        .await
        .expect("first registration")
        .into_inner();
    first
        .message()
        .await
        .expect("registered")
        .expect("a message");
    // A second engine process, with a token that may register engines,
    // cannot take the name over.
    for token in [WORKER, MAIN] {
        let err = EngineServiceClient::new(authed(&server.channel, bearer(token)))
            .serve(tokio_stream::iter(vec![register("shared")]).chain(tokio_stream::pending()))
            .await
            .expect_err("name taken");
        assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
        assert!(err.message().contains("\"shared\""), "{err:?}");
    }
    // Once the first engine disconnects, the name is free again (its calls
    // wait for the successor: the engine is listed as reconnecting).
    drop(first_tx);
    drop(first);
    let mut again = None;
    for _ in 0..100 {
        let status = server_status(&server.channel).await;
        if !status
            .engines
            .iter()
            .any(|e| e.name == "shared" && !e.reconnecting)
        {
            again = Some(
                EngineServiceClient::new(authed(&server.channel, bearer(WORKER)))
                    .serve(
                        tokio_stream::iter(vec![register("shared")]).chain(tokio_stream::pending()),
                    )
                    .await,
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    again
        .expect("the engine went away")
        .expect("name free again");
}

async fn server_status(channel: &Channel) -> symbatcher::pb::v1::StatusResponse {
    StatusServiceClient::new(authed(channel, bearer(STATUS)))
        .status(StatusRequest {})
        .await
        .expect("status")
        .into_inner()
}

#[tokio::test(start_paused = true)]
async fn pickle_jobs_are_refused_unless_the_server_allows_them() {
    let pickle = JobSpec {
        codec: Codec::Pickle as i32,
        ..spec("tests.auth:Pickled", 1)
    };
    let server = spawn_server(config()).await;
    let err = try_start_job(&server.channel, pickle.clone())
        .await
        .err()
        .expect("refused");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(
        err.metadata().get("symbatcher-field").expect("field"),
        "codec"
    );
    assert!(err.message().contains("--allow-pickle"), "{err:?}");

    let mut allowing = config();
    allowing.security.allow_pickle = true;
    let server = spawn_server(allowing).await;
    let job = start_job(&server.channel, pickle).await;
    drop(job);
}

#[test]
fn the_binary_refuses_an_open_non_loopback_listener_and_says_why() {
    let binary = env!("CARGO_BIN_EXE_symbatcher-server");
    let clear = |command: &mut Command| {
        for var in [
            "SYMBATCHER_AUTH_TOKEN",
            "SYMBATCHER_CLIENT_TOKEN",
            "SYMBATCHER_WORKER_TOKEN",
            "SYMBATCHER_STATUS_TOKEN",
            "SYMBATCHER_LISTEN",
        ] {
            command.env_remove(var);
        }
    };
    let mut command = Command::new(binary);
    command.args(["--listen", "0.0.0.0:0"]);
    clear(&mut command);
    let output = command.output().expect("the server runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0"),
        "{stderr}"
    );
    assert!(stderr.contains("--insecure"), "{stderr}");
    assert!(stderr.contains("SYMBATCHER_AUTH_TOKEN"), "{stderr}");
    assert!(output.stdout.is_empty(), "it never listened");

    // --help documents the security flags and both log filter variables.
    let help = Command::new(binary).arg("--help").output().expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--auth-token-file",
        "--worker-token-file",
        "--tls-cert",
        "--tls-client-ca",
        "--insecure",
        "--allow-pickle",
        "RUST_LOG",
        "SYMBATCHER_LOG",
    ] {
        assert!(help.contains(needle), "{needle} missing from --help");
    }
}

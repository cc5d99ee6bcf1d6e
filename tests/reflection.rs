//! Server reflection lists the symbatcher services and health, so generic
//! gRPC tools (grpcurl, Postman, ...) can call the server without the protos.

mod common;

use tokio_stream::StreamExt;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

#[tokio::test(start_paused = true)]
async fn reflection_lists_every_service() {
    let server = common::spawn_server(common::config()).await;
    let mut client = ServerReflectionClient::new(server.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection stream opens")
        .into_inner();
    let reply = replies
        .next()
        .await
        .expect("one reply")
        .expect("reply is not an error");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!(
            "expected a ListServicesResponse, got {:?}",
            reply.message_response
        );
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    for expected in [
        "grpc.health.v1.Health",
        "symbatcher.v1.BatchService",
        "symbatcher.v1.EngineService",
        "symbatcher.v1.StatusService",
        "symbatcher.v1.WorkerService",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

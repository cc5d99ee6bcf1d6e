//! A loopback OpenAI-compatible chat-completions server that answers every
//! request after a fixed latency (or one spread around it), for
//! `bench/latency.py`.
//!
//! It must cost little CPU, so that at thousands of requests per second it
//! is not what bounds the benchmark: one tokio thread, HTTP/1.1 with
//! keep-alive parsed by hand, a timer per request: about 60 µs of CPU per
//! request on the 2-core development machine, half what the same server on
//! Python's asyncio streams costs (110 to 130 µs), so at 2,500 requests/s it
//! takes about 15% of one core.
//!
//! - `POST .../chat/completions`: after `--latency-ms` (plus or minus up to
//!   `--spread-ms`, the same for the same last message: uniform over the
//!   messages, so a run's contenders wait alike), `"reply to: "` + the
//!   content of the request's last message, with a `usage` of 10 prompt and
//!   5 completion tokens;
//! - `GET /stats`: `{"requests": N, "peak_in_flight": P, "connections": C}`
//!   since the previous `GET /stats` (reading resets them; `peak_in_flight`
//!   restarts from the requests in flight then);
//! - anything else: 404.
//!
//! It prints `listening on ADDR` once bound, and exits when its standard
//! input closes (the benchmark that started it ended, however it ended).
//!
//! ```text
//! cargo run --release --example slow_openai -- [--listen 127.0.0.1:0] [--latency-ms 200] [--spread-ms 0]
//! ```

use std::cell::Cell;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use clap::Parser;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser, Debug)]
#[command(about = "A loopback OpenAI-compatible server answering after a fixed latency")]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Time from a request's arrival to its answer, in milliseconds.
    #[arg(long, default_value_t = 200)]
    latency_ms: u64,
    /// Each request's latency is `latency_ms` plus or minus up to this, by
    /// the hash of its last message (at most `latency_ms`).
    #[arg(long, default_value_t = 0)]
    spread_ms: u64,
}

/// The latency of a request whose last message is `content`.
#[derive(Debug, Clone, Copy)]
struct Latency {
    base_ms: u64,
    spread_ms: u64,
}

impl Latency {
    fn of(&self, content: &str) -> Duration {
        if self.spread_ms == 0 {
            return Duration::from_millis(self.base_ms);
        }
        let mut hasher = DefaultHasher::new();
        content.hash(&mut hasher);
        let offset = hasher.finish() % (2 * self.spread_ms + 1);
        Duration::from_millis(self.base_ms - self.spread_ms + offset)
    }
}

/// Counters since the last `GET /stats`. One thread: `Cell`s suffice.
#[derive(Debug, Default)]
struct Stats {
    requests: Cell<u64>,
    in_flight: Cell<u64>,
    peak_in_flight: Cell<u64>,
    connections: Cell<u64>,
}

impl Stats {
    fn started(&self) {
        self.requests.set(self.requests.get() + 1);
        self.in_flight.set(self.in_flight.get() + 1);
        self.peak_in_flight
            .set(self.peak_in_flight.get().max(self.in_flight.get()));
    }

    fn finished(&self) {
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
    }

    /// The counters as JSON; resets them.
    fn take(&self) -> Value {
        let out = json!({
            "requests": self.requests.replace(0),
            "peak_in_flight": self.peak_in_flight.replace(self.in_flight.get()),
            "connections": self.connections.replace(0),
        });
        out
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, serve(args))
}

async fn serve(args: Args) -> std::io::Result<()> {
    let listener = TcpListener::bind(&args.listen).await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", listener.local_addr()?)?;
        stdout.flush()?;
    }
    let latency = Latency {
        base_ms: args.latency_ms,
        spread_ms: args.spread_ms.min(args.latency_ms),
    };
    let stats = Rc::new(Stats::default());
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    loop {
        tokio::select! {
            read = stdin.read(&mut sink) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return Ok(());
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                stats.connections.set(stats.connections.get() + 1);
                tokio::task::spawn_local(connection(stream, latency, stats.clone()));
            }
        }
    }
}

/// Serves one keep-alive connection, one request at a time (HTTP/1.1
/// clients do not pipeline).
async fn connection(mut stream: TcpStream, latency: Latency, stats: Rc<Stats>) {
    let mut buffer = Vec::with_capacity(4096);
    while let Some((head, body)) = read_request(&mut stream, &mut buffer).await {
        let request_line = head.lines().next().unwrap_or_default();
        let response =
            if request_line.starts_with("POST ") && request_line.contains("/chat/completions") {
                stats.started();
                let (content, answer) = completion(&body);
                tokio::time::sleep(latency.of(&content)).await;
                stats.finished();
                http_response(200, &answer.to_string())
            } else if request_line.starts_with("GET /stats") {
                http_response(200, &stats.take().to_string())
            } else {
                http_response(404, r#"{"error":{"message":"no such route"}}"#)
            };
        if stream.write_all(&response).await.is_err() {
            return;
        }
    }
}

/// The content of a request body's last message, and the chat completion
/// answering it.
fn completion(body: &[u8]) -> (String, Value) {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let content = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let answer = json!({
        "id": "chatcmpl-slow",
        "object": "chat.completion",
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("reply to: {content}")},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    });
    (content, answer)
}

fn http_response(status: u16, body: &str) -> Vec<u8> {
    let reason = if status == 200 { "OK" } else { "Not Found" };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one request (head and body) from a keep-alive connection; None
/// when the client closed it.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        read_more(stream, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .skip(1)
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        read_more(stream, buffer).await?;
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some((head, body))
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await.ok()?;
    if n == 0 {
        return None;
    }
    buffer.extend_from_slice(&chunk[..n]);
    Some(())
}

//! `symbatcher-server` as a process on free ports, logging JSON to a pipe a
//! thread reads, for tests that need real sockets (the metrics endpoint,
//! file descriptors, resident memory).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// Longest wait for a line of the server process.
pub const LINE_WAIT: Duration = Duration::from_secs(60);

pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    pub grpc: SocketAddr,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    seen: Vec<String>,
}

impl ServerProcess {
    /// Starts the server with `extra` flags; `--exit-with-stdin` stops it
    /// with the test.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with_env(extra, &[])
    }

    /// Like [`Self::start`], with extra environment variables.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_symbatcher-server"))
            .args(["--listen", "127.0.0.1:0", "--exit-with-stdin"])
            .args(["--log-format", "json", "--shutdown-grace-ms", "500"])
            .args(extra)
            .env("SYMBATCHER_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server binary runs");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("the listening line");
        let grpc = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first stdout line: {first:?}"))
            .parse()
            .expect("an address");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        ServerProcess {
            child,
            stdin,
            grpc,
            lines,
            seen: Vec::new(),
        }
    }

    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.grpc))
            .expect("a URI")
            .connect()
            .await
            .expect("connects to the server process")
    }

    /// Reads stderr until a JSON line whose message is `message`.
    pub fn wait_for(&mut self, message: &str) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(LINE_WAIT)
                .unwrap_or_else(|_| panic!("no log line {message:?}; lines: {:#?}", self.seen));
            self.seen.push(line.clone());
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if value["fields"]["message"] == message {
                return value;
            }
        }
    }

    /// The metrics endpoint's address, from its startup log line.
    pub fn metrics_addr(&mut self) -> SocketAddr {
        let line = self.wait_for("metrics endpoint listening on /metrics");
        line["fields"]["addr"]
            .as_str()
            .expect("an addr field")
            .parse()
            .expect("an address")
    }

    /// Closes stdin (the server shuts down) and returns every stderr line.
    pub fn stop(self) -> Vec<String> {
        self.stop_with_status().0
    }

    /// Like [`Self::stop`], with how the server exited.
    pub fn stop_with_status(mut self) -> (Vec<String>, ExitStatus) {
        drop(self.stdin.take());
        while let Ok(line) = self.lines.recv_timeout(LINE_WAIT) {
            self.seen.push(line);
        }
        let status = self.child.wait().expect("the server exits");
        (std::mem::take(&mut self.seen), status)
    }

    /// Resident memory of the server process, in bytes (Linux).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status of the server");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line");
        kb * 1024
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

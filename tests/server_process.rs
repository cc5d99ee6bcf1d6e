//! The server binary as a process: how it stops.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_stops_a_server_whose_owner_still_holds_its_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_symbatcher-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--exit-with-stdin",
            "--shutdown-grace-ms",
            "100",
        ])
        .stdin(Stdio::piped()) // held open by this test: no end of file
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server binary runs");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().expect("stdout")),
        &mut line,
    )
    .expect("read the listening line");
    assert!(line.starts_with("listening on "), "{line}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

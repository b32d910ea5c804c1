//! The real `api` binary on a free loopback port: start, readiness,
//! prediction, a chunked upload above the limit, the healthcheck
//! subcommand, SIGTERM shutdown, read timeouts against slow clients, HEAD,
//! and the responses hyper writes itself.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_api");

/// Kills the child if a test fails before it stopped it.
struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn start(model: &Path) -> Service {
    start_with(model, &[])
}

fn start_with(model: &Path, options: &[&str]) -> Service {
    let addr = free_port();
    let child = Command::new(BINARY)
        .args(["--addr", &addr.to_string(), "--model"])
        .arg(model)
        .args(options)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the api binary starts");
    Service { child, addr }
}

/// Sends one raw HTTP/1.1 request and returns the status and body.
fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    exchange(addr, request.as_bytes())
}

fn post_json(addr: SocketAddr, body: &str) -> std::io::Result<(u16, String)> {
    let request = format!(
        "POST /predict HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, request.as_bytes())
}

fn wait_until_ready(service: &Service) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok((200, _)) = get(service.addr, "/") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the service on {} was not ready within 10 s", service.addr);
}

fn wait_for_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "the process did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn healthcheck(addr: SocketAddr) -> ExitStatus {
    Command::new(BINARY)
        .args([
            "healthcheck",
            "--addr",
            &addr.to_string(),
            "--timeout-ms",
            "1000",
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn serves_predicts_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    std::fs::write(&path, common::trained_artifact().to_json_bytes()).unwrap();
    let mut service = start(&path);
    wait_until_ready(&service);

    let (status, body) = post_json(service.addr, common::REFERENCE_BODY).unwrap();
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["prediction"], 0);
    assert_eq!(body["label"], "setosa");

    assert!(healthcheck(service.addr).success());

    // A chunked body with no Content-Length, 2 MiB against the 1 MiB limit.
    let chunk = " ".repeat(64 * 1024);
    let mut request = b"POST /predict HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..32 {
        request.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = exchange(service.addr, &request).unwrap();
    assert_eq!(status, 413, "{body}");

    signal(&service.child, "TERM");
    let exit = wait_for_exit(&mut service.child, Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0));

    let mut logs = String::new();
    service
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let events: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).expect("every log line is JSON off a terminal"))
        .collect();
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|event| event["message"].as_str())
        .collect();
    for expected in [
        "starting api",
        "model loaded",
        "listening",
        "shutdown requested; finishing requests in flight",
        "shutdown complete",
    ] {
        assert!(
            messages.contains(&expected),
            "log message {expected:?} in {messages:?}"
        );
    }
    assert!(
        get(service.addr, "/").is_err(),
        "the port is closed after shutdown"
    );
}

#[test]
fn healthcheck_fails_without_model_and_sigint_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = start(&dir.path().join("model.json"));
    let start = Instant::now();
    while get(service.addr, "/").is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the service did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (status, body) = get(service.addr, "/").unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("\"reason\":\"missing\""), "{body}");
    assert_eq!(healthcheck(service.addr).code(), Some(1));

    signal(&service.child, "INT");
    let exit = wait_for_exit(&mut service.child, Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0));
    assert_eq!(
        healthcheck(service.addr).code(),
        Some(1),
        "nothing listens any more"
    );
}

#[test]
fn request_in_flight_finishes_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    std::fs::write(&path, common::trained_artifact().to_json_bytes()).unwrap();
    let mut service = start(&path);
    wait_until_ready(&service);

    // Send the headers and half of the body, signal, then send the rest.
    let body = common::REFERENCE_BODY;
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(service.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    signal(&service.child, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        service.child.try_wait().unwrap().is_none(),
        "the service waits for the request"
    );
    stream.write_all(rest.as_bytes()).unwrap();

    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"prediction\":0"), "{response}");
    let exit = wait_for_exit(&mut service.child, Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0));
}

/// Sends `request`, then reads until the server closes the connection and
/// returns what it sent and how long that took.
fn send_and_wait_for_close(addr: SocketAddr, request: &[u8]) -> (String, Duration) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let outcome = stream.read_to_end(&mut response);
    let elapsed = started.elapsed();
    // A reset also ends the connection; a read timeout means it stayed open.
    if let Err(error) = outcome {
        assert_ne!(
            error.kind(),
            std::io::ErrorKind::WouldBlock,
            "the connection stayed open for {elapsed:?}"
        );
    }
    (String::from_utf8_lossy(&response).into_owned(), elapsed)
}

#[test]
fn slow_clients_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    std::fs::write(&path, common::trained_artifact().to_json_bytes()).unwrap();
    let service = start_with(
        &path,
        &["--header-timeout-ms", "500", "--body-timeout-ms", "500"],
    );
    wait_until_ready(&service);

    // Headers without the blank line that ends them: closed without a
    // response once the header timeout passes.
    let (response, elapsed) =
        send_and_wait_for_close(service.addr, b"GET / HTTP/1.1\r\nHost: test\r\n");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert_eq!(response, "");

    // A declared 100-byte body of which 4 bytes arrive: 408 with a JSON body.
    let request = b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"";
    let (response, elapsed) = send_and_wait_for_close(service.addr, request);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    let body = response.split_once("\r\n\r\n").unwrap().1;
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("0.5 seconds"),
        "{body}"
    );

    // A connection that sends nothing at all is closed the same way.
    let (response, elapsed) = send_and_wait_for_close(service.addr, b"");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(response, "");

    // The HTTP/2 connection preface gets no HTTP/2 frames back. Only HTTP/1
    // is served, because HTTP/2 has no header timeout.
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let (response, elapsed) = send_and_wait_for_close(service.addr, preface);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(!response.contains('\0'), "HTTP/2 frames in {response:?}");

    // The service still serves other clients.
    assert_eq!(get(service.addr, "/livez").unwrap().0, 200);
}

#[test]
fn head_has_no_body_and_parse_errors_come_from_hyper() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    std::fs::write(&path, common::trained_artifact().to_json_bytes()).unwrap();
    let service = start(&path);
    wait_until_ready(&service);

    let (response, _) = send_and_wait_for_close(
        service.addr,
        b"HEAD / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    assert_eq!(body, "");

    // hyper rejects a path longer than 65,534 bytes before any route runs
    // and writes the 414 itself, with no body.
    let request = format!(
        "GET /{} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    let (response, _) = send_and_wait_for_close(service.addr, request.as_bytes());
    assert!(response.starts_with("HTTP/1.1 414 "), "{response}");
    assert_eq!(response.split_once("\r\n\r\n").unwrap().1, "");
}

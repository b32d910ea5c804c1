//! `api healthcheck`: a minimal HTTP client for Docker's HEALTHCHECK in an
//! image that has no curl.
//!
//! It connects by IP address, because a static binary in a FROM-scratch
//! image can resolve host names only through `/etc/hosts`. An unspecified
//! listen address (`0.0.0.0`, `::`) is probed on the matching loopback.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Why the probe did not see a ready service.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("failed to connect to {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to exchange GET / with {addr}")]
    Exchange {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr} answered GET / with an unreadable status line: {line:?}")]
    BadResponse { addr: SocketAddr, line: String },
    #[error("{addr} is not ready: GET / returned status {status}")]
    NotReady { addr: SocketAddr, status: u16 },
}

/// Returns the address to probe for a service listening on `listen`.
pub fn probe_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Sends `GET /` to `addr` and succeeds only on status 200. Connecting,
/// writing and reading each give up after `timeout`.
pub fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), ProbeError> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| ProbeError::Connect { addr, source })?;
    let exchange = |source| ProbeError::Exchange { addr, source };
    stream.set_read_timeout(Some(timeout)).map_err(exchange)?;
    stream.set_write_timeout(Some(timeout)).map_err(exchange)?;
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(exchange)?;

    // The status line fits in the first read; the body is not needed.
    let mut buffer = [0u8; 256];
    let mut filled = 0;
    while filled < buffer.len() && !buffer[..filled].contains(&b'\n') {
        let read = stream.read(&mut buffer[filled..]).map_err(exchange)?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    let head = String::from_utf8_lossy(&buffer[..filled]);
    let line = head.lines().next().unwrap_or_default();
    let status = parse_status(line).ok_or_else(|| ProbeError::BadResponse {
        addr,
        line: line.to_owned(),
    })?;
    if status == 200 {
        Ok(())
    } else {
        Err(ProbeError::NotReady { addr, status })
    }
}

/// Reads the status code of an `HTTP/1.x NNN reason` line.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_address_maps_to_loopback() {
        let probe = probe_address("0.0.0.0:8000".parse().unwrap());
        assert_eq!(probe, "127.0.0.1:8000".parse().unwrap());
        let probe = probe_address("[::]:9".parse().unwrap());
        assert_eq!(probe, "[::1]:9".parse().unwrap());
    }

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status("HTTP/1.1 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
    }

    #[test]
    fn closed_port_fails_to_connect() {
        // Bind then drop a listener so that the port is very likely closed.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let result = probe(addr, Duration::from_millis(500));
        assert!(
            matches!(result, Err(ProbeError::Connect { .. })),
            "{result:?}"
        );
    }
}

//! A deliberately small HTTP/1.1 server and client, hardened against slow and hostile peers.
//!
//! The worker runtime serves its API with it and must keep its trusted code small, so it carries no
//! web framework: requests are parsed with `httparse`, bodies need a `Content-Length` (no chunked
//! encoding) under their route's limit, every connection serves one request and closes. The server
//! ([`serve`]) reads and writes on one `mio` event loop under [`Limits`] and runs the handler on a
//! pool of threads, so no client can hold a thread by being slow. [`request`] is the client the
//! relayer, the client SDK, the CLI and the tests use against runtimes and nodes alike: it bounds
//! the time and the bytes a server can make it spend ([`Options`]).

mod client;
mod server;

pub use client::{MAX_RESPONSE, Options, authority, request, request_with};
pub use server::{BodyLimit, Handler, Limits, MAX_HEAD, serve};
use veil_api::{ErrorBody, ErrorCode};

/// A parsed request.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The query string, without `?` (empty if none).
    pub query: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The value of query parameter `name`, if present (no percent-decoding: values are hex or
    /// SS58, which need none).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }
}

/// A response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|error| {
            format!(r#"{{"code":"internal","message":"the answer does not serialize: {error}"}}"#).into_bytes()
        });
        Self { status, content_type: "application/json", body }
    }

    /// A binary response.
    pub fn bytes(status: u16, body: Vec<u8>) -> Self {
        Self { status, content_type: "application/octet-stream", body }
    }

    /// An error answer ([`ErrorBody`]) with the status its code is sent with.
    pub fn error(code: ErrorCode, message: impl std::fmt::Display) -> Self {
        Self::json(code.status(), &ErrorBody::new(code, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        io::{Read, Write},
        net::{TcpListener, TcpStream},
        sync::Arc,
        time::{Duration, Instant},
    };

    /// A server on a free loopback port: `/echo` echoes, `/big` answers 32 MiB, `/panic` panics;
    /// bodies up to 16 bytes, except `/upload` (1 MiB).
    fn start(threads: usize, limits: Limits) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let handler: Arc<Handler> = Arc::new(|request: Request| match request.path.as_str() {
            "/big" => Response::bytes(200, vec![7; 32 << 20]),
            "/panic" => panic!("a handler bug"),
            _ => {
                let echo =
                    format!("{} {} {:?} {}", request.method, request.path, request.param("x"), request.body.len());
                Response::bytes(200, echo.into_bytes())
            }
        });
        let limit: Arc<BodyLimit> = Arc::new(|_: &str, path: &str| if path == "/upload" { 1 << 20 } else { 16 });
        std::thread::spawn(move || serve(listener, threads, limits, limit, handler));
        address
    }

    fn quick() -> Options {
        Options { deadline: Duration::from_secs(5), ..Options::default() }
    }

    #[test]
    fn serves_requests_and_refuses_bad_ones() {
        let address = start(1, Limits::default());
        let (status, body) = request(&address, "POST", "/p?x=1&y=2", "text/plain", b"hello").unwrap();
        assert_eq!((status, String::from_utf8(body).unwrap()), (200, "POST /p Some(\"1\") 5".into()));
        let (status, body) = request(&address, "POST", "/p", "text/plain", &[0; 17]).unwrap();
        assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("the limit of POST /p is 16"));
        let (status, _) = request(&address, "POST", "/upload", "text/plain", &[0; 100_000]).unwrap();
        assert_eq!(status, 200, "a route with a larger limit");
        let mut raw = TcpStream::connect(&address).unwrap();
        raw.write_all(b"GARBAGE\r\n\r\n").unwrap();
        let mut answer = String::new();
        raw.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }

    /// A refusal is read by the client even when it was sending a body the server did not want,
    /// and a handler that panics fails its own request only.
    #[test]
    fn refusals_reach_the_client_and_a_panicking_handler_fails_only_its_request() {
        let address = start(1, Limits::default());
        let (status, body) = request(&address, "POST", "/echo", "text/plain", &vec![1u8; 4 << 20]).unwrap();
        assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
        for _ in 0..3 {
            let (status, _) = request(&address, "GET", "/panic", "text/plain", b"").unwrap();
            assert_eq!(status, 500);
        }
        assert_eq!(request(&address, "GET", "/echo", "text/plain", b"").unwrap().0, 200, "its one thread lives on");
        for (head, why) in [
            ("POST /upload HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab", "two different"),
            ("POST /upload HTTP/1.1\r\nContent-Length: +2\r\n\r\nab", "bad Content-Length"),
        ] {
            let mut raw = TcpStream::connect(&address).unwrap();
            raw.write_all(head.as_bytes()).unwrap();
            let mut answer = String::new();
            raw.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 400") && answer.contains(why), "{answer}");
        }
    }

    /// An announced body over the route's limit is refused before a byte of it is read.
    #[test]
    fn an_announced_huge_body_is_refused_unread() {
        let address = start(1, Limits::default());
        let mut raw = TcpStream::connect(&address).unwrap();
        raw.write_all(b"POST /upload HTTP/1.1\r\nContent-Length: 1099511627776\r\n\r\n").unwrap();
        let mut answer = String::new();
        raw.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("too_large"), "{answer}");
    }

    /// Slow-loris: 64 connections each sending a byte at a time, and 8 that never read an 8 MiB
    /// answer, on a server with 2 handler threads: honest requests are answered at once, and the
    /// slow ones are closed at their deadlines.
    #[test]
    fn slow_and_stalled_clients_do_not_hold_up_honest_ones() {
        let limits = Limits {
            request_deadline: Duration::from_secs(2),
            write_deadline: Duration::from_secs(2),
            ..Limits::default()
        };
        let address = start(2, limits);
        let mut slow: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(&address).unwrap()).collect();
        let mut stalled = Vec::new();
        for _ in 0..8 {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream.write_all(b"GET /big HTTP/1.1\r\n\r\n").unwrap();
            stalled.push(stream);
        }
        let request_line = b"GET /echo HTTP/1.1\r\nHost: x\r\n";
        let began = Instant::now();
        let mut worst = Duration::ZERO;
        for round in 0..8 {
            for stream in &mut slow {
                let _ = stream.write_all(&request_line[round % request_line.len()..][..1]);
            }
            let asked = Instant::now();
            let (status, body) = request_with(&address, "GET", "/echo", "text/plain", b"", quick()).unwrap();
            worst = worst.max(asked.elapsed());
            assert_eq!((status, body), (200, b"GET /echo None 0".to_vec()));
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(worst < Duration::from_secs(5), "an honest request took {worst:?}");
        // Past the deadlines, the server has closed every slow connection and every stalled one
        // (a 32 MiB answer does not fit in the socket buffers: its writing stalled).
        std::thread::sleep(Duration::from_secs(3).saturating_sub(began.elapsed()) + Duration::from_millis(500));
        for stream in slow.iter_mut().chain(&mut stalled) {
            stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut rest = Vec::new();
            let ended = stream.read_to_end(&mut rest);
            let timed_out = ended
                .as_ref()
                .is_err_and(|e| matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
            assert!(!timed_out, "still open: {ended:?}");
        }
    }

    /// More connections than allowed: the one that has waited longest for its request makes room.
    #[test]
    fn the_connection_limit_evicts_the_slowest_not_the_newest() {
        let address = start(1, Limits { max_connections: 16, ..Limits::default() });
        let mut idle: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(&address).unwrap()).collect();
        let (status, _) = request_with(&address, "GET", "/echo", "text/plain", b"", quick()).unwrap();
        assert_eq!(status, 200);
        let mut byte = [0u8; 1];
        idle[0].set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(idle[0].read(&mut byte).unwrap(), 0, "the oldest was closed to make room");
        idle[39].set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let newest = idle[39].read(&mut byte).unwrap_err();
        assert!(matches!(newest.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{newest}");
    }

    /// A hostile server: a 1 TiB answer announced, or bytes trickled forever, or an endless answer
    /// without a length. The client fails with a clear error, fast or at its deadline, holding at
    /// most its cap.
    #[test]
    fn a_hostile_server_cannot_make_the_client_wait_or_allocate_without_bound() {
        fn hostile(answer: &'static [u8], trickle: bool) -> String {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap().to_string();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    std::thread::spawn(move || {
                        let mut request = [0u8; 1024];
                        let _ = stream.read(&mut request);
                        let _ = stream.write_all(answer);
                        loop {
                            let sent = if trickle { stream.write_all(b"x") } else { stream.write_all(&[0u8; 65_536]) };
                            if sent.is_err() {
                                return;
                            }
                            if trickle {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    });
                }
            });
            address
        }
        let options = Options { deadline: Duration::from_secs(2), max_response: 1 << 20 };
        let announced = hostile(b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n", false);
        let began = Instant::now();
        let error = request_with(&announced, "GET", "/", "text/plain", b"", options).unwrap_err();
        assert!(
            error.to_string().contains("announced an answer of 1099511627776 bytes; the limit is 1048576"),
            "{error}"
        );
        assert!(began.elapsed() < Duration::from_secs(1));

        let trickling = hostile(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", true);
        let began = Instant::now();
        let error = request_with(&trickling, "GET", "/", "text/plain", b"", options).unwrap_err();
        assert!(error.to_string().contains("no whole answer within 2s"), "{error}");
        assert!(began.elapsed() < Duration::from_secs(3));

        let endless = hostile(b"HTTP/1.1 200 OK\r\n\r\n", false);
        let error = request_with(&endless, "GET", "/", "text/plain", b"", options).unwrap_err();
        assert!(error.to_string().contains("over the limit of 1048576 bytes"), "{error}");
    }
}

//! A deliberately small HTTP/1.1 server and client over std sockets.
//!
//! The worker runtime serves its API with it and must keep its trusted code small, so it carries no
//! web framework: requests are parsed with `httparse`, bodies need a `Content-Length` (no chunked
//! encoding) under a limit, every connection serves one request and closes. [`request`] is the
//! client the relayer, the client SDK and the tests use, against runtimes and nodes alike.

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::Arc,
    time::Duration,
};

use veil_api::{ErrorBody, ErrorCode};

/// The largest request head (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;
/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Serves `handler` on `listener` with `threads` threads, forever. `max_body` bounds each body.
pub fn serve(
    listener: TcpListener,
    threads: usize,
    max_body: usize,
    handler: Arc<dyn Fn(Request) -> Response + Send + Sync>,
) -> io::Result<()> {
    let listener = Arc::new(listener);
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (listener, handler) = (Arc::clone(&listener), Arc::clone(&handler));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    // A broken connection only loses its own request.
                    let _ = handle(stream, max_body, &*handler);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| io::Error::other("a server thread panicked"))?;
    }
    Ok(())
}

fn handle(stream: TcpStream, max_body: usize, handler: &dyn Fn(Request) -> Response) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let response = match read_request(&mut reader, max_body) {
        Ok(request) => handler(request),
        Err((status, message)) => Response::json(status, &ErrorBody::new(ErrorCode::BadRequest, message)),
    };
    write_response(stream, &response)
}

fn read_request(reader: &mut BufReader<TcpStream>, max_body: usize) -> Result<Request, (u16, String)> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        reader.read_until(b'\n', &mut head).map_err(|e| (400, e.to_string()))?;
        if head.len() == before {
            return Err((400, "connection closed before the request ended".into()));
        }
        if head.len() > MAX_HEAD {
            return Err((431, format!("request head over {MAX_HEAD} bytes")));
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err((400, "incomplete request head".into())),
        Err(error) => return Err((400, format!("malformed request: {error}"))),
    }
    let mut length = 0usize;
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err((411, "chunked bodies are not accepted; send Content-Length".into()));
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|value| value.trim().parse().ok())
                .ok_or((400, "bad Content-Length".to_string()))?;
        }
    }
    if length > max_body {
        return Err((413, format!("body of {length} bytes; the limit is {max_body}")));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| (400, format!("body shorter than Content-Length: {e}")))?;
    let target = parsed.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: parsed.method.unwrap_or("GET").to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn write_response(mut stream: TcpStream, response: &Response) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

/// Sends one request to `authority` (`host:port`) and returns the status and body. Plain HTTP:
/// for loopback and the host's own runtime; anything crossing a network belongs behind TLS.
pub fn request(
    authority: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {status_line:?}")))?;
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = Vec::new();
    match length {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body)?;
        }
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    Ok((status, body))
}

/// Splits `http://host:port[/…]` into `host:port`.
pub fn authority(url: &str) -> Result<&str, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    Ok(rest.split('/').next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_requests_and_refuses_bad_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let handler: Arc<dyn Fn(Request) -> Response + Send + Sync> = Arc::new(|request: Request| {
            let echo = format!("{} {} {:?} {}", request.method, request.path, request.param("x"), request.body.len());
            Response::bytes(200, echo.into_bytes())
        });
        std::thread::spawn(move || serve(listener, 1, 16, handler));
        let (status, body) = request(&address, "POST", "/p?x=1&y=2", "text/plain", b"hello").unwrap();
        assert_eq!((status, String::from_utf8(body).unwrap()), (200, "POST /p Some(\"1\") 5".into()));
        let (status, body) = request(&address, "POST", "/p", "text/plain", &[0; 17]).unwrap();
        assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
        let mut raw = TcpStream::connect(&address).unwrap();
        raw.write_all(b"GARBAGE\r\n\r\n").unwrap();
        let mut answer = String::new();
        raw.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
}

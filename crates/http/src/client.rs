//! The client: one request per connection, under a deadline and a cap on the answer's size.
//!
//! A server is not trusted to be honest about its answer: an announced `Content-Length` over the
//! cap fails at once (nothing is allocated for it), a body is read in pieces as it arrives, and the
//! whole exchange (connecting, sending, reading) must finish by the deadline, so a server that
//! trickles bytes cannot hold the caller longer than that.

use std::{
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::{Duration, Instant},
};

use crate::server::{MAX_HEAD, content_length};

/// The most read from the socket at once.
const CHUNK: usize = 16 * 1024;

/// What a request may cost its caller.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The whole exchange, from connecting to the answer's last byte.
    pub deadline: Duration,
    /// The largest answer body accepted.
    pub max_response: usize,
}

/// The default cap on an answer's body: the largest answers (topic pages, blocks, a worker's sync
/// batches and snapshots) are tens of MiB at most.
pub const MAX_RESPONSE: usize = 96 << 20;

impl Default for Options {
    fn default() -> Self {
        Self { deadline: Duration::from_secs(30), max_response: MAX_RESPONSE }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Sends one request to `authority` (`host:port`) under the default [`Options`] and returns the
/// status and body. Plain HTTP: for loopback and the host's own runtime; anything crossing a
/// network belongs behind TLS.
pub fn request(
    authority: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<(u16, Vec<u8>)> {
    request_with(authority, method, path, content_type, body, Options::default())
}

/// [`request`] under `options`.
pub fn request_with(
    authority: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    options: Options,
) -> io::Result<(u16, Vec<u8>)> {
    let deadline = Instant::now() + options.deadline;
    let left = || {
        deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::TimedOut, format!("no whole answer within {:?}", options.deadline))
        })
    };
    // Name resolution is the system's and not bounded by the deadline; the tools are given
    // addresses or `localhost`.
    let mut connected = Err(io::Error::new(io::ErrorKind::NotFound, format!("{authority} resolves to no address")));
    for address in authority.to_socket_addrs()? {
        connected = TcpStream::connect_timeout(&address, left()?);
        if connected.is_ok() {
            break;
        }
    }
    let mut stream = connected?;
    let timed_out =
        || io::Error::new(io::ErrorKind::TimedOut, format!("no whole answer within {:?}", options.deadline));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut outgoing = head.into_bytes();
    outgoing.extend_from_slice(body);
    let mut sent = 0;
    while sent < outgoing.len() {
        stream.set_write_timeout(Some(left()?))?;
        match stream.write(&outgoing[sent..]) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "the server closed while the request was sent"));
            }
            Ok(written) => sent += written,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(timed_out());
            }
            // The server may have refused the request before reading it all: its answer says why.
            Err(error) => match read_refusal(&mut stream) {
                Some(answer) => return Ok(answer),
                None => return Err(error),
            },
        }
    }

    // Read the head, then the body, a piece at a time, each read bounded by the time left.
    let mut received = Vec::new();
    let mut chunk = [0u8; CHUNK];
    let mut read = |stream: &mut TcpStream, into: &mut Vec<u8>, most: usize| -> io::Result<usize> {
        loop {
            stream.set_read_timeout(Some(left()?))?;
            match stream.read(&mut chunk[..most.min(CHUNK)]) {
                Ok(count) => {
                    into.extend_from_slice(&chunk[..count]);
                    return Ok(count);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(timed_out());
                }
                Err(error) => return Err(error),
            }
        }
    };
    let (status, head_length, length) = loop {
        let most = MAX_HEAD + 1 - received.len().min(MAX_HEAD);
        if read(&mut stream, &mut received, most)? == 0 {
            return Err(invalid("the server closed before its answer's head ended".into()));
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(&received) {
            // An interim answer (100 Continue and the like): the final one follows.
            Ok(httparse::Status::Complete(head_length)) if parsed.code.is_some_and(|code| code < 200) => {
                received.drain(..head_length);
            }
            Ok(httparse::Status::Complete(head_length)) => {
                let status = parsed.code.ok_or_else(|| invalid("an answer without a status".into()))?;
                let mut length = None;
                for header in parsed.headers.iter() {
                    if header.name.eq_ignore_ascii_case("content-length") {
                        let value = content_length(header.value)
                            .ok_or_else(|| invalid("a bad Content-Length in the answer".into()))?;
                        if length.is_some_and(|earlier| earlier != value) {
                            return Err(invalid("two different Content-Length headers in the answer".into()));
                        }
                        length = Some(value);
                    }
                    if header.name.eq_ignore_ascii_case("transfer-encoding") {
                        return Err(invalid("a chunked answer: this client reads Content-Length answers only".into()));
                    }
                }
                break (status, head_length, length);
            }
            Ok(httparse::Status::Partial) if received.len() > MAX_HEAD => {
                return Err(invalid(format!("an answer head over {MAX_HEAD} bytes")));
            }
            Ok(httparse::Status::Partial) => {}
            Err(error) => return Err(invalid(format!("a malformed answer: {error}"))),
        }
    };
    let cap = options.max_response;
    if let Some(length) = length
        && length > cap as u64
    {
        return Err(invalid(format!("the server announced an answer of {length} bytes; the limit is {cap}")));
    }
    let mut body = received.split_off(head_length);
    match length {
        Some(length) => {
            let length = length as usize;
            if body.len() > length {
                return Err(invalid("more bytes than the answer's Content-Length".into()));
            }
            while body.len() < length {
                let most = length - body.len();
                if read(&mut stream, &mut body, most)? == 0 {
                    return Err(invalid(format!("the answer ended at {} of its {length} bytes", body.len())));
                }
            }
        }
        None => loop {
            if body.len() > cap {
                return Err(invalid(format!("an answer over the limit of {cap} bytes")));
            }
            let most = cap + 1 - body.len();
            if read(&mut stream, &mut body, most)? == 0 {
                break;
            }
        },
    }
    Ok((status, body))
}

/// After a failed write: the server's answer, if it sent one whole and small (a refusal) before
/// closing, read within a moment.
fn read_refusal(stream: &mut TcpStream) -> Option<(u16, Vec<u8>)> {
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut received = Vec::new();
    stream.take(MAX_HEAD as u64 * 2).read_to_end(&mut received).ok();
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head_length)) = parsed.parse(&received) else { return None };
    Some((parsed.code?, received[head_length..].to_vec()))
}

/// Splits `http://host:port[/…]` into `host:port`.
pub fn authority(url: &str) -> Result<&str, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    Ok(rest.split('/').next().unwrap_or(rest))
}

//! The server: one event loop owns every connection, a pool of threads runs the handler.
//!
//! Slow or hostile clients cost the server only what [`Limits`] allows them, never a thread: the
//! loop reads requests without blocking, so a connection that sends a byte at a time holds a
//! buffer, not a worker. A request reaches the handler only once it is whole; a connection that
//! has not sent it whole by the request deadline is closed, as is one that has not read its answer
//! by the write deadline. A body is refused (413) as soon as its `Content-Length` exceeds its
//! route's limit, before any of it is read, and its buffer is reserved only as bytes arrive.
//!
//! Memory is bounded by [`Limits::max_buffered`], which counts every body from its first byte
//! until its answer is written and every answer until it is written: past it, a new body is
//! answered `busy`. When the connection limit is reached, the connection that has waited longest
//! for its request to finish, or that has stopped reading its answer for longest, makes room for
//! the new one: an honest request is whole within milliseconds and an honest client reads its
//! answer as it comes. When the handler threads are all busy and their queue is full, a request is
//! answered `busy` at once rather than queued without bound. A refusal is written, then the
//! connection's remaining input is drained for a moment, so the client reads the refusal instead
//! of a reset.

use std::{
    collections::HashMap,
    io::{self, Read, Write},
    net::{Shutdown, TcpListener},
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use mio::{Events, Interest, Poll, Token, Waker, net::TcpStream};
use veil_api::{ErrorBody, ErrorCode};

use crate::{Request, Response};

/// What a server allows each connection, and all of them together.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at once.
    pub max_connections: usize,
    /// From accepting a connection to having its whole request.
    pub request_deadline: Duration,
    /// From having the answer to having written it all.
    pub write_deadline: Duration,
    /// Bytes of request bodies and answers held across all connections (a body that would
    /// exceed it is answered `busy`).
    pub max_buffered: usize,
    /// Requests waiting for a handler thread (more are answered `busy`).
    pub queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            request_deadline: Duration::from_secs(10),
            write_deadline: Duration::from_secs(10),
            max_buffered: 256 << 20,
            queue: 64,
        }
    }
}

/// The largest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;
const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// The most read from a socket at once.
const CHUNK: usize = 16 * 1024;
/// How often deadlines are checked when nothing else wakes the loop.
const TICK: Duration = Duration::from_millis(100);
/// How long a connection whose answer stopped moving keeps its place when the connection limit
/// is reached.
const STALL_GRACE: Duration = Duration::from_secs(1);
/// How long, and how much, a refused connection's input is drained after its refusal is written.
const DRAIN_FOR: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 1 << 20;

/// The body limit of each route: `(method, path) → bytes`.
pub type BodyLimit = dyn Fn(&str, &str) -> usize + Send + Sync;
/// The handler every whole request goes to.
pub type Handler = dyn Fn(Request) -> Response + Send + Sync;

/// A parsed request head.
struct Head {
    /// The body's length (its `Content-Length`).
    length: usize,
    /// The request, its body being read.
    request: Request,
}

enum Phase {
    /// Reading the request: its head once parsed (then `buffer` is empty and the body is read
    /// into the request).
    Reading { head: Option<Head> },
    /// The request is with a handler thread.
    Handling,
    /// Writing the answer's head, then its body, from `written`.
    Writing { head: Vec<u8>, body: Vec<u8>, written: usize, deadline: Instant, moved: Instant, refused: bool },
    /// A refusal is written: reading what the client still sends, until it stops or `until`.
    Draining { until: Instant, left: usize },
}

struct Connection {
    stream: TcpStream,
    accepted: Instant,
    /// The head's bytes as they arrive.
    buffer: Vec<u8>,
    /// Bytes of this connection counted in the server's total.
    held: usize,
    phase: Phase,
}

/// Serves `handler` on `listener` with `threads` handler threads, forever, under `limits`; a
/// request body's limit is `body_limit(method, path)`.
pub fn serve(
    listener: TcpListener,
    threads: usize,
    limits: Limits,
    body_limit: Arc<BodyLimit>,
    handler: Arc<Handler>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = mio::net::TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);

    let (requests, queue) = mpsc::sync_channel::<(Token, Request)>(limits.queue.max(1));
    let queue = Arc::new(Mutex::new(queue));
    let answers = Arc::new(Mutex::new(Vec::<(Token, Response)>::new()));
    for _ in 0..threads.max(1) {
        let (queue, answers, waker, handler) =
            (Arc::clone(&queue), Arc::clone(&answers), Arc::clone(&waker), Arc::clone(&handler));
        std::thread::spawn(move || {
            loop {
                // The lock is held only to take one request, so a poisoned lock cannot leave the
                // queue inconsistent.
                let next = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
                let Ok((token, request)) = next else { return };
                // A handler that panics fails its own request, not the thread or the connection.
                let response = std::panic::catch_unwind(AssertUnwindSafe(|| handler(request)))
                    .unwrap_or_else(|_| Response::error(ErrorCode::Internal, "the request failed inside the server"));
                answers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((token, response));
                let _ = waker.wake();
            }
        });
    }

    let mut server =
        Server { limits, body_limit, connections: HashMap::new(), next: 2, buffered: 0, requests, backlog: false };
    let mut events = Events::with_capacity(1024);
    let mut swept = Instant::now();
    loop {
        if let Err(error) = poll.poll(&mut events, Some(TICK)) {
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => server.accept(&listener, &poll),
                WAKER => {
                    let ready = std::mem::take(&mut *answers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
                    for (token, response) in ready {
                        server.answer(token, response, false, &poll);
                    }
                }
                token => server.ready(token, &poll),
            }
        }
        if swept.elapsed() >= TICK {
            server.sweep();
            if server.backlog {
                server.accept(&listener, &poll);
            }
            swept = Instant::now();
        }
    }
}

struct Server {
    limits: Limits,
    body_limit: Arc<BodyLimit>,
    connections: HashMap<Token, Connection>,
    next: usize,
    /// Bytes of bodies and answers held across connections.
    buffered: usize,
    requests: mpsc::SyncSender<(Token, Request)>,
    /// Accepting stopped on an error (out of descriptors): retried at each sweep, since no new
    /// readiness event comes for connections already waiting.
    backlog: bool,
}

impl Server {
    fn accept(&mut self, listener: &mio::net::TcpListener, poll: &Poll) {
        self.backlog = false;
        loop {
            let mut stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if matches!(error.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {
                    continue;
                }
                Err(_) => {
                    self.backlog = true;
                    return;
                }
            };
            if self.connections.len() >= self.limits.max_connections && !self.evict_slowest() {
                continue; // Every connection is moving: the new one is closed.
            }
            let token = Token(self.next);
            self.next += 1;
            if poll.registry().register(&mut stream, token, Interest::READABLE).is_err() {
                continue;
            }
            let phase = Phase::Reading { head: None };
            let accepted = Instant::now();
            self.connections.insert(token, Connection { stream, accepted, buffer: Vec::new(), held: 0, phase });
        }
    }

    /// Closes the connection that has waited longest for its request to finish, or (if none is
    /// still sending one) whose answer has stopped moving for longest, past a short grace.
    fn evict_slowest(&mut self) -> bool {
        let now = Instant::now();
        let reading = self
            .connections
            .iter()
            .filter(|(_, connection)| matches!(connection.phase, Phase::Reading { .. } | Phase::Draining { .. }))
            .min_by_key(|(_, connection)| connection.accepted)
            .map(|(token, _)| *token);
        let stalled = || {
            self.connections
                .iter()
                .filter_map(|(token, connection)| match connection.phase {
                    Phase::Writing { moved, .. } if now.duration_since(moved) >= STALL_GRACE => Some((*token, moved)),
                    _ => None,
                })
                .min_by_key(|(_, moved)| *moved)
                .map(|(token, _)| token)
        };
        match reading.or_else(stalled) {
            Some(token) => {
                self.close(token);
                true
            }
            None => false,
        }
    }

    fn close(&mut self, token: Token) {
        if let Some(connection) = self.connections.remove(&token) {
            self.buffered -= connection.held;
        }
    }

    /// Closes connections past their deadline.
    fn sweep(&mut self) {
        let now = Instant::now();
        let late: Vec<Token> = self
            .connections
            .iter()
            .filter(|(_, connection)| match &connection.phase {
                Phase::Reading { .. } => now.duration_since(connection.accepted) > self.limits.request_deadline,
                Phase::Handling => false,
                Phase::Writing { deadline, .. } => now > *deadline,
                Phase::Draining { until, .. } => now > *until,
            })
            .map(|(token, _)| *token)
            .collect();
        for token in late {
            self.close(token);
        }
    }

    fn ready(&mut self, token: Token, poll: &Poll) {
        let Some(connection) = self.connections.get(&token) else { return };
        match connection.phase {
            Phase::Reading { .. } => self.read(token, poll),
            Phase::Handling => {}
            Phase::Writing { .. } => self.write(token, poll),
            Phase::Draining { .. } => self.drain(token),
        }
    }

    fn read(&mut self, token: Token, poll: &Poll) {
        let Some(connection) = self.connections.get_mut(&token) else { return };
        let mut chunk = [0u8; CHUNK];
        loop {
            let Phase::Reading { head } = &mut connection.phase else { return };
            // Read no further than the request needs: past the head's limit, or to the body's end.
            let wanted = match head {
                None => MAX_HEAD + 1 - connection.buffer.len(),
                Some(head) => head.length - head.request.body.len(),
            };
            if wanted == 0 {
                break;
            }
            let read = match connection.stream.read(&mut chunk[..wanted.min(CHUNK)]) {
                Ok(0) => return self.close(token),
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.close(token),
            };
            let fresh = match head {
                Some(head) => {
                    head.request.body.extend_from_slice(&chunk[..read]);
                    read
                }
                None => {
                    // Parse only once the head's end has arrived: a head trickled a byte at a time
                    // is scanned once per byte, not parsed once per byte.
                    let scan_from = connection.buffer.len().saturating_sub(3);
                    connection.buffer.extend_from_slice(&chunk[..read]);
                    let ended = connection.buffer[scan_from..].windows(4).any(|w| w == b"\r\n\r\n")
                        || connection.buffer[scan_from.saturating_sub(1)..].windows(2).any(|w| w == b"\n\n");
                    if !ended {
                        if connection.buffer.len() > MAX_HEAD {
                            let refused = refusal(431, format!("request head over {MAX_HEAD} bytes"));
                            return self.answer(token, refused, true, poll);
                        }
                        continue;
                    }
                    match parse_head(&connection.buffer, &*self.body_limit) {
                        Ok(None) => {
                            let refused = refusal(400, "incomplete request head");
                            return self.answer(token, refused, true, poll);
                        }
                        Ok(Some((length, mut parsed))) => {
                            let early = &connection.buffer[length..];
                            if early.len() > parsed.length {
                                let refused =
                                    refusal(400, "more bytes than the Content-Length (one request a connection)");
                                return self.answer(token, refused, true, poll);
                            }
                            // Reserved as it arrives, never ahead of the bytes.
                            parsed.request.body.extend_from_slice(early);
                            connection.buffer = Vec::new();
                            let early = parsed.request.body.len();
                            *head = Some(parsed);
                            early
                        }
                        Err(refused) => return self.answer(token, refused, true, poll),
                    }
                }
            };
            if self.buffered + fresh > self.limits.max_buffered {
                let busy = Response::error(ErrorCode::Busy, "the server holds too much at once; retry shortly");
                return self.answer(token, busy, true, poll);
            }
            self.buffered += fresh;
            connection.held += fresh;
        }
        let Phase::Reading { head: Some(head) } = &mut connection.phase else { return };
        let request = std::mem::replace(&mut head.request, empty_request());
        connection.phase = Phase::Handling;
        // Nothing more is read from it: the answer comes back through the waker. Its body stays
        // counted until the answer is written.
        let _ = poll.registry().deregister(&mut connection.stream);
        if self.requests.try_send((token, request)).is_err() {
            let busy = Response::error(ErrorCode::Busy, "every handler is busy and the queue is full; retry shortly");
            self.answer(token, busy, false, poll);
        }
    }

    /// Starts writing `response` to the connection of `token` (gone if it was closed meanwhile).
    /// A `refused` request's remaining input is drained after the answer.
    fn answer(&mut self, token: Token, response: Response, refused: bool, poll: &Poll) {
        let Some(connection) = self.connections.get_mut(&token) else { return };
        // What the request held is released; the answer is held until written.
        self.buffered = self.buffered - connection.held + response.body.len();
        connection.held = response.body.len();
        let now = Instant::now();
        let deadline = now + self.limits.write_deadline;
        let head = encode_head(&response);
        connection.phase = Phase::Writing { head, body: response.body, written: 0, deadline, moved: now, refused };
        connection.buffer = Vec::new();
        let registry = poll.registry();
        let registered = registry
            .reregister(&mut connection.stream, token, Interest::WRITABLE)
            .or_else(|_| registry.register(&mut connection.stream, token, Interest::WRITABLE));
        if registered.is_err() {
            return self.close(token);
        }
        self.write(token, poll);
    }

    fn write(&mut self, token: Token, poll: &Poll) {
        let Some(connection) = self.connections.get_mut(&token) else { return };
        let Phase::Writing { head, body, written, moved, refused, .. } = &mut connection.phase else { return };
        let total = head.len() + body.len();
        while *written < total {
            let rest = if *written < head.len() { &head[*written..] } else { &body[*written - head.len()..] };
            match connection.stream.write(rest) {
                Ok(0) => return self.close(token),
                Ok(sent) => {
                    *written += sent;
                    *moved = Instant::now();
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(token),
            }
        }
        let _ = connection.stream.flush();
        if !*refused {
            return self.close(token);
        }
        // Closing with unread input would reset the connection and lose the refusal: stop
        // writing, and read what the client still sends for a moment.
        let _ = connection.stream.shutdown(Shutdown::Write);
        self.buffered -= connection.held;
        connection.held = 0;
        connection.phase = Phase::Draining { until: Instant::now() + DRAIN_FOR, left: DRAIN_BYTES };
        if poll.registry().reregister(&mut connection.stream, token, Interest::READABLE).is_err() {
            return self.close(token);
        }
        self.drain(token);
    }

    fn drain(&mut self, token: Token) {
        let Some(connection) = self.connections.get_mut(&token) else { return };
        let Phase::Draining { left, .. } = &mut connection.phase else { return };
        let mut chunk = [0u8; CHUNK];
        loop {
            match connection.stream.read(&mut chunk) {
                Ok(0) => return self.close(token),
                Ok(read) if read >= *left => return self.close(token),
                Ok(read) => *left -= read,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(token),
            }
        }
    }
}

fn empty_request() -> Request {
    Request { method: String::new(), path: String::new(), query: String::new(), body: Vec::new() }
}

fn refusal(status: u16, message: impl std::fmt::Display) -> Response {
    Response::json(status, &ErrorBody::new(ErrorCode::BadRequest, message))
}

/// A `Content-Length` value: digits only (no sign, no spaces inside), as RFC 9112 requires.
pub(crate) fn content_length(value: &[u8]) -> Option<u64> {
    let value = std::str::from_utf8(value).ok()?.trim();
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Parses the request head at the start of `buffer`: its length and the head, its body's length
/// checked against the route's limit.
fn parse_head(buffer: &[u8], body_limit: &BodyLimit) -> Result<Option<(usize, Head)>, Response> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let length = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(refusal(400, format!("malformed request: {error}"))),
    };
    let mut body: Option<u64> = None;
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(refusal(411, "chunked bodies are not accepted; send Content-Length"));
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = content_length(header.value).ok_or_else(|| refusal(400, "bad Content-Length"))?;
            if body.is_some_and(|earlier| earlier != value) {
                return Err(refusal(400, "two different Content-Length headers"));
            }
            body = Some(value);
        }
    }
    let method = parsed.method.unwrap_or("GET");
    let target = parsed.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let limit = body_limit(method, path);
    let body = body.unwrap_or(0);
    if body > limit as u64 {
        let message = format!("body of {body} bytes; the limit of {method} {path} is {limit}");
        return Err(Response::error(ErrorCode::TooLarge, message));
    }
    let request =
        Request { method: method.to_owned(), path: path.to_owned(), query: query.to_owned(), body: Vec::new() };
    Ok(Some((length, Head { length: body as usize, request })))
}

/// The head of `response` on the wire; every connection serves one request.
fn encode_head(response: &Response) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    )
    .into_bytes()
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
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

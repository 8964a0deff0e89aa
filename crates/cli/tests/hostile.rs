//! Hostile clients against real processes (issue 24): a worker under slow-loris still answers
//! every honest request within a 5-second client deadline.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use std::{
    io::Write as _,
    net::TcpStream,
    time::{Duration, Instant},
};
use support::{start_validator, start_worker, temp_dir};
use veil_client::api::paths;
use veil_http::{Options, request_with};

/// 64 connections each sending one byte at a time, and 16 announcing bodies far over the query
/// limit without sending them, against a worker with two handler threads: each of 8 status
/// requests and 8 refused garbage queries is answered within a 5-second client deadline.
#[test]
fn a_worker_under_slow_loris_answers_every_honest_request() {
    let dir = temp_dir("hostile-worker");
    let (_node, genesis) = start_validator(&dir);
    let worker = start_worker(&dir, "worker", &genesis, &["--threads", "2"], &[]);
    let authority = worker.url.strip_prefix("http://").unwrap().to_owned();

    let mut slow: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(&authority).unwrap()).collect();
    let mut announced = Vec::new();
    for _ in 0..16 {
        let mut stream = TcpStream::connect(&authority).unwrap();
        let head = format!("POST {} HTTP/1.1\r\nContent-Length: 1099511627776\r\n\r\n", paths::worker::QUERY);
        stream.write_all(head.as_bytes()).unwrap();
        announced.push(stream);
    }
    let line = b"GET /v1/status HTTP/1.1\r\nHost: worker\r\n";
    let options = Options { deadline: Duration::from_secs(5), ..Options::default() };
    let mut latencies = Vec::new();
    for round in 0..8 {
        for stream in &mut slow {
            let _ = stream.write_all(&line[round % line.len()..][..1]);
        }
        let asked = Instant::now();
        let (status, _) = request_with(&authority, "GET", paths::worker::STATUS, "application/json", b"", options)
            .unwrap_or_else(|e| panic!("status request {round} under attack: {e}"));
        assert_eq!(status, 200);
        let (status, _) =
            request_with(&authority, "POST", paths::worker::QUERY, "application/octet-stream", b"garbage", options)
                .unwrap_or_else(|e| panic!("query {round} under attack: {e}"));
        assert_eq!(status, 400, "garbage is refused, and answered");
        latencies.push(asked.elapsed());
        std::thread::sleep(Duration::from_millis(500));
    }
    latencies.sort();
    println!("honest status + query under slow-loris: median {:?}, worst {:?}", latencies[4], latencies[7]);
    assert!(latencies[7] < Duration::from_secs(5));
}

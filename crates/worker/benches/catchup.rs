//! A runtime far behind catches up in pages.
//!
//! `cargo bench -p veil-worker --bench catchup [-- MESSAGES]` (default 1,000,000): a worker runtime
//! that joined the heartbeats topic is left behind while `MESSAGES` heartbeats of other workers
//! land on it (published into the state as blocks publish them, subtree roots included), then is
//! brought to the tip in pages of 1,024 messages, as `veil relay` does: each page built by the
//! node's own page code (`Chain::topic_page` over the state: messages, the kept subtree roots of
//! the rest, the topic path), checked whole by the runtime (certificate, header, page against the
//! certified log) and handled, and the runtime's checkpoint encoded after each, as the service
//! writes one after every batch.
//!
//! Reported: messages/s end to end, the time split between building pages and the runtime's
//! side, and the hardware limit measured in the same run: SHA-256 over the same messages, three
//! hashes per message (the message hash, its leaf, and on average one inner node) being the least
//! any reader that checks every message must do.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use parity_scale_codec::Encode;
use std::time::{Duration, Instant};
use support::Scenario;
use veil_primitives::{Message, Origin, SenderId, SystemTopic, Topic, epoch::Heartbeat, hashing::sha256};

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn main() {
    // Run without `--bench` (by `cargo test --benches`), a smoke size: the bench runs, tiny.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let default = if smoke { 5_000 } else { 1_000_000 };
    let count: u64 = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(default);
    let page = 1_024;

    let mut scenario = Scenario::new();
    let mut worker = scenario.worker();
    scenario.relay(&mut worker);
    let heartbeats = Topic::System(SystemTopic::Heartbeats);
    let joined = worker.view().topics[&heartbeats].length;
    assert!(joined > 0, "the worker started reading the heartbeats");

    let other = Origin::Runtime(SenderId::Worker([9; 32]));
    let messages: Vec<Message> = (0..count)
        .map(|height| Message {
            topic: heartbeats,
            origin: other,
            payload: Heartbeat { height }.encode().try_into().unwrap(),
        })
        .collect();
    let generating = Instant::now();
    scenario.chain.publish_directly(messages.iter().cloned());
    println!("published {count} heartbeats in {:.1?}", generating.elapsed());

    let (mut building, mut applying, mut pages, mut handled) = (Duration::ZERO, Duration::ZERO, 0u64, 0u64);
    let start = Instant::now();
    loop {
        let (batch, built) = {
            let at = Instant::now();
            let batch = scenario.page_for(&worker, page);
            (batch, at.elapsed())
        };
        building += built;
        let at = Instant::now();
        let applied = worker.apply(&batch).unwrap();
        std::hint::black_box(worker.checkpoint());
        applying += at.elapsed();
        pages += 1;
        handled += applied.messages;
        assert!(applied.refused.is_empty(), "{:?}", applied.refused);
        if applied.complete {
            break;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(worker.view().topics[&heartbeats].length, joined + count);
    assert_eq!(worker.view().height, scenario.chain.tip().height);
    assert_eq!(handled, count);

    // The hardware limit: three SHA-256 per message, over the same messages.
    let at = Instant::now();
    for message in &messages {
        let hash = message.hash();
        let leaf = sha256(&[&[0u8][..], hash.as_bytes()].concat());
        std::hint::black_box(sha256(&[&[1u8][..], leaf.as_bytes(), hash.as_bytes()].concat()));
    }
    let hashing = at.elapsed();
    let rate = per_second(count, elapsed);
    let limit = per_second(count, hashing);
    println!(
        "caught up {count} messages in {pages} pages of {page}: {elapsed:.1?} = {rate:.0} messages/s \
         (building pages {building:.1?}, runtime {applying:.1?})"
    );
    println!("hardware limit (3 SHA-256 per message): {limit:.0} messages/s; ratio {:.2}", rate / limit);
    println!("runtime side alone: {:.0} messages/s", per_second(count, applying));
}

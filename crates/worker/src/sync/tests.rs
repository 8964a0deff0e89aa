use super::*;
use std::collections::BTreeMap;
use veil_consensus::testing::GeneratedChain;
use veil_primitives::{decode_strict, log::RangeError, topics::TopicError};

/// Recognizes the refusal a case expects.
type Expected = Box<dyn Fn(&SyncError) -> bool>;

fn delivery(chain: &GeneratedChain, topic: Topic, from: u64) -> Batch {
    let (messages, proof) = chain.topic_range(&topic, from);
    Batch {
        certificate: chain.certify_tip(),
        header: chain.tip().clone(),
        topics: vec![TopicDelivery { topic, messages, proof, start: None }],
    }
}

fn messages(batch: &Batch) -> &[Message] {
    &batch.topics[0].messages
}

fn follower(chain: &GeneratedChain) -> Follower {
    let client = LightClient::new(&chain.network.network_key, &chain.network.namespace).unwrap();
    Follower::new(client, FollowerState::default())
}

#[test]
fn follows_a_topic_in_verified_steps() {
    let mut chain = GeneratedChain::new(2);
    let topic = chain.topic(0);
    chain.extend_by(10);
    let mut follower = follower(&chain);
    follower.follow(topic);
    let indices = |accepted: Accepted| -> Vec<u64> {
        assert!(accepted.complete);
        assert_eq!(accepted.messages.len(), 1);
        accepted.messages[0].1.iter().map(|(index, _)| *index).collect()
    };
    assert_eq!(indices(follower.accept(&delivery(&chain, topic, 0)).unwrap()), vec![0, 1, 2, 3, 4]);
    chain.extend_by(6);
    assert_eq!(indices(follower.accept(&delivery(&chain, topic, 5)).unwrap()), vec![5, 6, 7]);
    assert_eq!(follower.state().height, chain.tip().height);
    // Through a checkpoint and back.
    let restored = FollowerState::decode(&mut &follower.state().encode()[..]).unwrap();
    assert_eq!(&restored, follower.state());
}

#[test]
fn a_lying_relayer_is_refused_with_reasons_and_changes_nothing() {
    let mut chain = GeneratedChain::new(2);
    let topic = chain.topic(0);
    chain.extend_by(6);
    let old = delivery(&chain, topic, 0);
    chain.extend_by(4);
    let mut follower = follower(&chain);
    follower.follow(topic);
    follower.accept(&delivery(&chain, topic, 0)).unwrap();
    chain.extend_by(8);
    let good = delivery(&chain, topic, 5);
    assert_eq!(messages(&good).len(), 4);
    let before = follower.state().clone();

    let is_topic = |error: &SyncError, expected: fn(&TopicError) -> bool| matches!(error, SyncError::Verification { error: LightClientError::Topic(inner), .. } if expected(inner));
    let mut cases: Vec<(&str, Batch, Expected)> = Vec::new();
    let mut forged = good.clone();
    let last = forged.certificate.len() - 1;
    forged.certificate[last] ^= 1;
    cases.push(("forged certificate", forged, Box::new(|e| matches!(e, SyncError::Header(_)))));
    let mut other_header = good.clone();
    other_header.header.timestamp_ms += 1;
    cases.push((
        "another header",
        other_header,
        Box::new(|e| matches!(e, SyncError::Header(LightClientError::HeaderMismatch { .. }))),
    ));
    let mut altered = good.clone();
    altered.topics[0].messages[1].payload = b"not what the chain ordered".to_vec().try_into().unwrap();
    cases.push(("altered", altered, Box::new(move |e| is_topic(e, |t| matches!(t, TopicError::RootMismatch)))));
    let mut reordered = good.clone();
    reordered.topics[0].messages.swap(0, 1);
    cases.push(("reordered", reordered, Box::new(move |e| is_topic(e, |t| matches!(t, TopicError::RootMismatch)))));
    let mut inserted = good.clone();
    inserted.topics[0].messages.insert(2, messages(&good)[0].clone());
    cases.push(("inserted", inserted, Box::new(move |e| is_topic(e, |t| matches!(t, TopicError::Range(_))))));
    let mut omitted_last = good.clone();
    omitted_last.topics[0].messages.pop();
    cases.push((
        "omitted last",
        omitted_last,
        Box::new(move |e| is_topic(e, |t| matches!(t, TopicError::Range(RangeError::StopsShort { .. })))),
    ));
    let mut omitted_middle = good.clone();
    omitted_middle.topics[0].messages.remove(1);
    cases.push(("omitted middle", omitted_middle, Box::new(move |e| is_topic(e, |_| true))));
    cases.push(("an older header", old, Box::new(|e| matches!(e, SyncError::StaleHeader { .. }))));
    let mut unfollowed = good.clone();
    unfollowed.topics[0].topic = chain.topic(1);
    cases.push(("a topic not followed", unfollowed, Box::new(|e| matches!(e, SyncError::NotFollowed(_)))));
    let mut twice = good.clone();
    twice.topics.push(good.topics[0].clone());
    cases.push(("a topic twice", twice, Box::new(|e| matches!(e, SyncError::Duplicate(_)))));
    let mut left_out = good.clone();
    left_out.topics.clear();
    cases.push(("a followed topic left out", left_out, Box::new(|e| matches!(e, SyncError::Missing(_)))));
    let garbage = Batch::decode_strict(&[&good.encode()[..], &[0]].concat()).unwrap_err();
    assert!(matches!(garbage, SyncError::Malformed(_)), "{garbage}");

    for (what, batch, expected) in cases {
        let error = follower.accept(&Batch::decode_strict(&batch.encode()).unwrap()).unwrap_err();
        assert!(expected(&error), "{what}: unexpected refusal {error}");
        assert!(!error.to_string().is_empty());
        assert_eq!(follower.state(), &before, "{what} changed the runtime's state");
    }
    // The honest delivery still goes through.
    assert_eq!(follower.accept(&good).unwrap().messages[0].1.len(), 4);
}

/// The batch a relayer with page size `page` brings: topics in canonical order from where the
/// follower stands, the one that exhausts the budget cut to a page and last.
fn paged(chain: &GeneratedChain, follower: &Follower, page: u64) -> Batch {
    let positions = follower.state().topics.iter().map(|(topic, kept)| (*topic, kept.length));
    let topics = assemble(positions, page, |topic, from, budget| {
        let delivery = chain.topic_page(topic, from, budget);
        Ok::<_, ()>(delivery.map(|(messages, proof, start)| TopicDelivery { topic: *topic, messages, proof, start }))
    })
    .unwrap();
    Batch { certificate: chain.certify_tip(), header: chain.tip().clone(), topics }
}

#[test]
fn a_long_way_behind_is_caught_up_in_pages_and_the_height_moves_only_at_the_end() {
    let mut chain = GeneratedChain::new(2);
    let (first, second) = (chain.topic(0), chain.topic(1));
    chain.extend_by(300);
    let mut follower = follower(&chain);
    follower.follow(first);
    follower.follow(second);
    let mut seen: BTreeMap<Topic, Vec<u64>> = BTreeMap::new();
    let mut batches = 0;
    loop {
        let accepted = follower.accept(&paged(&chain, &follower, 64)).unwrap();
        batches += 1;
        let count: usize = accepted.messages.iter().map(|(_, messages)| messages.len()).sum();
        assert!(count <= 64, "a page holds at most the page size");
        for (topic, messages) in accepted.messages {
            seen.entry(topic).or_default().extend(messages.iter().map(|(index, _)| *index));
        }
        if accepted.complete {
            break;
        }
        assert_eq!(follower.state().height, 0, "a partial batch leaves the height where it was");
    }
    assert_eq!(batches, 300usize.div_ceil(64));
    assert_eq!(follower.state().height, chain.tip().height);
    for topic in [first, second] {
        assert_eq!(seen[&topic], (0..150).collect::<Vec<_>>(), "every message of {topic} once, in order");
        assert_eq!(follower.state().topics[&topic], chain.topic_page(&topic, None, 0).unwrap().2.unwrap());
    }
}

#[test]
fn heartbeats_are_read_from_where_the_runtime_joins_and_nothing_else_may_skip() {
    let mut chain = GeneratedChain::new(1);
    let contract = chain.topic(0);
    chain.extend_by(70);
    let heartbeats = Topic::System(veil_primitives::SystemTopic::Heartbeats);
    let mut follower = follower(&chain);
    follower.follow(heartbeats);
    follower.follow(contract);
    let batch = paged(&chain, &follower, 1_000);
    assert!(batch.topics.iter().any(|d| d.topic == heartbeats && d.start.is_some() && d.messages.is_empty()));
    // Nothing may skip but a topic read from its end, and only before the runtime started it.
    let mut skipping = batch.clone();
    let contract_delivery = skipping.topics.iter_mut().find(|d| d.topic == contract).unwrap();
    contract_delivery.start = Some(LogPeaks::default());
    assert!(matches!(follower.accept(&skipping), Err(SyncError::StartRefused(topic)) if topic == contract));
    let accepted = follower.accept(&batch).unwrap();
    assert!(accepted.complete);
    let joined = follower.state().topics[&heartbeats].length;
    assert!(joined >= 1, "genesis publishes a first heartbeat");
    chain.extend_by(2);
    let mut again = paged(&chain, &follower, 1_000);
    let beat = again.topics.iter_mut().find(|d| d.topic == heartbeats);
    if let Some(delivery) = beat {
        delivery.start = Some(LogPeaks::default());
        assert!(matches!(follower.accept(&again), Err(SyncError::StartRefused(_))), "started once, read on from there");
    }
}

#[test]
fn a_relayer_that_lies_about_pages_is_refused_and_changes_nothing() {
    let mut chain = GeneratedChain::new(2);
    let (first, second) = (chain.topic(0), chain.topic(1));
    chain.extend_by(400);
    let mut follower = follower(&chain);
    follower.follow(first);
    follower.follow(second);
    let good = paged(&chain, &follower, 70);
    assert_eq!(good.topics.len(), 1, "the first topic is cut to a page");
    assert!(!good.topics[0].proof.rest.is_empty());
    let before = follower.state().clone();
    let is_range = |error: &SyncError, expected: fn(&RangeError) -> bool| matches!(error, SyncError::Verification { error: LightClientError::Topic(TopicError::Range(inner)), .. } if expected(inner));
    let mut cases: Vec<(&str, Batch, Expected)> = Vec::new();
    let mut altered_rest = good.clone();
    let rest = &mut altered_rest.topics[0].proof.rest;
    let mut hashes = rest.to_vec();
    hashes[0] = Hash::ZERO;
    *rest = hashes.try_into().unwrap();
    cases.push((
        "an altered subtree root",
        altered_rest,
        Box::new(|e| {
            matches!(e, SyncError::Verification { error: LightClientError::Topic(TopicError::RootMismatch), .. })
        }),
    ));
    let mut no_rest = good.clone();
    no_rest.topics[0].proof.rest = Default::default();
    cases.push((
        "a page without its rest",
        no_rest,
        Box::new(move |e| is_range(e, |r| matches!(r, RangeError::StopsShort { .. }))),
    ));
    let mut short_rest = good.clone();
    let mut hashes = short_rest.topics[0].proof.rest.to_vec();
    hashes.pop();
    short_rest.topics[0].proof.rest = hashes.try_into().unwrap();
    cases.push((
        "a rest short of a subtree",
        short_rest,
        Box::new(move |e| is_range(e, |r| matches!(r, RangeError::RestMismatch { .. }))),
    ));
    let mut page_dropped = good.clone();
    page_dropped.topics[0].messages.pop();
    cases.push((
        "a page one message shorter with the same rest",
        page_dropped,
        Box::new(move |e| {
            is_range(e, |r| matches!(r, RangeError::RestMismatch { .. })) || matches!(e, SyncError::Verification { .. })
        }),
    ));
    let mut after_page = good.clone();
    let (messages, proof) = chain.topic_range(&second, 0);
    after_page.topics.push(TopicDelivery { topic: second, messages, proof, start: None });
    cases.push(("a topic after a page", after_page, Box::new(|e| matches!(e, SyncError::AfterPage { .. }))));
    let complete = delivery(&chain, first, 0);
    let mut out_of_order = complete.clone();
    let (messages, proof) = chain.topic_range(&second, 0);
    out_of_order.topics.insert(0, TopicDelivery { topic: second, messages, proof, start: None });
    cases.push(("topics out of order", out_of_order, Box::new(|e| matches!(e, SyncError::OutOfOrder(_)))));
    for (what, batch, expected) in cases {
        let error = follower.accept(&Batch::decode_strict(&batch.encode()).unwrap()).unwrap_err();
        assert!(expected(&error), "{what}: unexpected refusal {error}");
        assert_eq!(follower.state(), &before, "{what} changed the runtime's state");
    }
    assert!(!follower.accept(&good).unwrap().complete);
}

/// Issue 22, item 4: the seed a runtime uses is the chain's record on the seeds topic, not the
/// header a relayer delivers: two relayers that deliver different certified headers (one stopping
/// earlier) give the runtime the same record for every block both cover, and each record is the
/// network's seed of that block's parent round.
#[test]
fn the_seed_of_a_round_is_the_chains_record_whichever_header_is_delivered() {
    let mut chain = GeneratedChain::new(1);
    chain.extend_by(6);
    let seeds = Topic::System(veil_primitives::SystemTopic::Seeds);
    let early = delivery(&chain, seeds, 0);
    chain.extend_by(5);
    let late = delivery(&chain, seeds, 0);
    let records = |batch: &Batch| -> Vec<veil_primitives::SeedRecord> {
        let mut follower = follower(&chain);
        follower.follow(seeds);
        let accepted = follower.accept(batch).unwrap();
        accepted.messages[0].1.iter().map(|(_, message)| decode_strict(&message.payload).unwrap()).collect()
    };
    let (from_early, from_late) = (records(&early), records(&late));
    assert_eq!(from_early.len(), 5, "blocks 2 to 6 record the seeds of rounds 1 to 5");
    assert_eq!(from_early[..], from_late[..from_early.len()], "the same record whichever header");
    let client = LightClient::new(&chain.network.network_key, &chain.network.namespace).unwrap();
    for record in &from_late {
        assert_eq!(record.seed, chain.network.seed(record.height - 1));
        assert_eq!(client.verify_seed(&record.seed), Ok(()));
        assert_eq!(chain.headers[record.height as usize].seed, Some(record.seed));
    }
}

/// Issue 22, item 5: the chain keeps only a window of the seeds topic. A runtime whose position
/// there fell out of the window moves on to the topic's end; while the messages it needs still
/// exist, no relayer may make it skip them, and it never moves back.
#[test]
fn a_runtime_behind_a_windowed_topic_moves_on_only_past_messages_that_are_gone() {
    let mut chain = GeneratedChain::new(1);
    let seeds = Topic::System(veil_primitives::SystemTopic::Seeds);
    let window = seeds.kept_messages().unwrap();
    chain.extend_by(10);
    let mut follower = follower(&chain);
    follower.follow(seeds);
    let joined = follower.accept(&paged(&chain, &follower, 100)).unwrap();
    assert!(joined.complete && joined.messages[0].1.is_empty(), "the seeds are read from where the runtime joins");
    let at = follower.state().topics[&seeds].length;
    assert!(at > 0);

    let skip = |chain: &GeneratedChain| {
        let (messages, proof, start) = chain.topic_page(&seeds, None, 0).unwrap();
        Batch {
            certificate: chain.certify_tip(),
            header: chain.tip().clone(),
            topics: vec![TopicDelivery { topic: seeds, messages, proof, start }],
        }
    };
    chain.extend_by(20);
    let before = follower.state().clone();
    assert!(matches!(follower.accept(&skip(&chain)), Err(SyncError::StartRefused(_))), "its messages still exist");
    assert_eq!(follower.state(), &before);

    // The chain moves on by more than the window: the messages from where the runtime stands are
    // gone, and the end is where it goes on from.
    chain.extend_by(window);
    let length = chain.topic_page(&seeds, None, 0).unwrap().1.length;
    assert!(seeds.first_kept(length) > at);
    // Never back: a start behind where it stands is refused.
    let mut back = skip(&chain);
    back.topics[0].start = Some(LogPeaks::default());
    assert!(matches!(follower.accept(&back), Err(SyncError::StartRefused(_))));
    // Nor a forged start: the end's length with other peaks, or a length past the log's.
    let mut forged = skip(&chain);
    let mut peaks = forged.topics[0].start.clone().unwrap();
    let mut other = LogPeaks::default();
    (0..peaks.length).for_each(|i| other.append(&veil_primitives::hashing::sha256(&i.to_le_bytes())));
    forged.topics[0].start = Some(other);
    assert!(matches!(follower.accept(&forged), Err(SyncError::Verification { .. })), "altered peaks");
    let mut beyond = skip(&chain);
    peaks.append(&veil_primitives::hashing::sha256(b"beyond"));
    beyond.topics[0].start = Some(peaks);
    assert!(follower.accept(&beyond).is_err(), "a start past the log's length");
    assert_eq!(follower.state().topics[&seeds].length, at, "nothing moved");
    let accepted = follower.accept(&skip(&chain)).unwrap();
    assert!(accepted.complete);
    assert_eq!(follower.state().topics[&seeds].length, length);
    assert_eq!(follower.state().height, chain.tip().height);
}

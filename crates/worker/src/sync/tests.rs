use super::*;
use veil_consensus::testing::GeneratedChain;
use veil_primitives::{log::RangeError, topics::TopicError};

/// Recognizes the refusal a case expects.
type Expected = Box<dyn Fn(&SyncError) -> bool>;

fn delivery(chain: &GeneratedChain, topic: Topic, from: u64) -> Batch {
    let (messages, proof) = chain.topic_range(&topic, from);
    Batch {
        certificate: chain.certify_tip(),
        header: chain.tip().clone(),
        topics: vec![TopicDelivery { topic, messages, proof }],
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
    let indices = |accepted: Vec<(Topic, NewMessages)>| -> Vec<u64> {
        assert_eq!(accepted.len(), 1);
        accepted[0].1.iter().map(|(index, _)| *index).collect()
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
    assert_eq!(follower.accept(&good).unwrap()[0].1.len(), 4);
}

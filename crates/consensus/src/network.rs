//! A validator on real sockets: Commonware's authenticated `lookup` p2p (validator addresses come
//! from genesis, so no discovery), with the encrypted, authenticated handshake keyed by the
//! validator's ed25519 identity.

use commonware_consensus::{marshal, simplex};
use commonware_cryptography::{ChaCha20Poly1305, Signer as _};
use commonware_p2p::{Address, AddressableManager as _, authenticated::lookup};
use commonware_runtime::{Clock, Metrics, Network, Quota, Resolver, Spawner, Storage};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZU32, NZUsize, ordered::Map};
use std::{net::SocketAddr, time::Duration};

use crate::{
    alias::{Digest, PrivateKey, PublicKey, Scheme},
    block::ConsensusBlock,
    engine::{self, Channels, EngineError, Validator, ValidatorConfig, channel},
    state::QmdbState,
};

/// A validator's peer: its identity and where to reach it.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The ed25519 identity.
    pub identity: PublicKey,
    /// Its p2p address.
    pub address: SocketAddr,
}

/// The largest p2p message a network of `validators` sends: a full block or a certificate.
pub fn max_message_size(validators: u32) -> u32 {
    commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<Scheme, Digest>(validators),
        marshal::max_payload_size::<marshal::standard::Standard<ConsensusBlock>, Scheme>(validators, &()),
    ])
}

/// Starts the p2p network on `listen` with `peers` (the whole validator set, this one included)
/// and the validator's engine on top. Loopback and private addresses are allowed when `listen` is
/// on loopback (local networks and tests).
pub async fn start_validator<E>(
    context: E,
    identity: PrivateKey,
    listen: SocketAddr,
    peers: &[Peer],
    config: ValidatorConfig,
) -> Result<Validator<QmdbState<E>>, EngineError>
where
    E: Storage + Metrics + Spawner + Clock + Network + Resolver + rand::CryptoRng,
{
    if identity.public_key() != config.identity {
        return Err(EngineError::IdentityMismatch);
    }
    let mut namespace = config.chain.genesis().network.namespace.clone().into_bytes();
    namespace.extend_from_slice(b"_P2P");
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: identity.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let validators = u32::try_from(peers.len()).unwrap_or(u32::MAX);
    let max_message = max_message_size(validators);
    let max_peers = NZUsize!(peers.len().max(1));
    let p2p = if listen.ip().is_loopback() {
        lookup::Config::local(handshake, &namespace, listen, max_peers, max_message, NZUsize!(1024))
    } else {
        lookup::Config::recommended(handshake, &namespace, listen, max_peers, max_message, NZUsize!(1024))
    };
    let (mut network, mut oracle) = lookup::Network::new(context.child("network"), p2p);
    let addresses: Map<PublicKey, Address> =
        Map::from_iter_dedup(peers.iter().map(|peer| (peer.identity.clone(), Address::Symmetric(peer.address))));
    let _ = oracle.track(0, addresses);
    let consensus_quota = Quota::per_second(NZU32!(1024));
    let block_quota = Quota::per_second(NZU32!(256));
    let channels = Channels {
        votes: network.register(channel::VOTES, consensus_quota),
        certificates: network.register(channel::CERTIFICATES, consensus_quota),
        resolver: network.register(channel::RESOLVER, consensus_quota),
        broadcast: network.register(channel::BROADCAST, block_quota),
        backfill: network.register(channel::BACKFILL, block_quota),
    };
    network.start();
    engine::start(context, config, channels, oracle.clone(), oracle).await
}

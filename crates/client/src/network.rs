//! The trust anchor: a network's genesis.

use std::path::Path;
use veil_genesis::Genesis;
use veil_light_client::LightClient;
use veil_primitives::Hash;

use crate::Error;

/// What a client trusts about a network, all of it from the genesis file: the chain id (its hash),
/// the network key and namespace that verify finalization certificates, and whether software
/// workers may register.
#[derive(Clone, Debug)]
pub struct Network {
    genesis: Genesis,
    chain_id: Hash,
    light_client: LightClient,
}

impl Network {
    /// The network of `genesis`.
    pub fn new(genesis: Genesis) -> Result<Self, Error> {
        let light_client = LightClient::new(&genesis.network.public_key, &genesis.network.namespace)
            .map_err(|e| Error::Invalid(format!("genesis: {e}")))?;
        Ok(Self { chain_id: genesis.hash(), genesis, light_client })
    }

    /// The network of the genesis file at `path`.
    pub fn from_genesis_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let genesis = Genesis::from_toml(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Self::new(genesis)
    }

    /// The chain id: SHA-256 of the canonical genesis.
    pub fn chain_id(&self) -> Hash {
        self.chain_id
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The light client pinned to this network.
    pub fn light_client(&self) -> &LightClient {
        &self.light_client
    }
}

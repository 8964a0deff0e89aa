//! What the network commands share: where the node, the workers and the genesis are; accounts;
//! client errors as exit codes; and one way to print a result.

use clap::Args;
use serde_json::Value;
use std::{io::Write, path::PathBuf, str::FromStr};
use veil_client::{Error as ClientError, Network, Node, Worker};
use veil_crypto::AccountPair;
use veil_primitives::AccountId;

use crate::{
    CommandError, OutputFormat,
    devnet::{DevnetRecord, default_devnet_dir},
    print_json, print_text,
};

/// Where the network is. Every default comes from the devnet (`veil devnet` writes `devnet.json`
/// and `genesis.toml` in its data directory), so on a devnet no option is needed.
#[derive(Args, Debug, Clone)]
pub(crate) struct Connection {
    /// The node's REST API [default: the devnet's, else http://127.0.0.1:9933].
    #[arg(long, env = "VEIL_NODE")]
    node: Option<String>,
    /// The network's genesis file, which every answer is verified against [default: the devnet's].
    #[arg(long, env = "VEIL_GENESIS")]
    genesis: Option<PathBuf>,
    /// A worker's API, asked for queries (repeat or separate with commas) [default: the devnet's].
    #[arg(long = "worker", env = "VEIL_WORKERS", value_delimiter = ',')]
    workers: Vec<String>,
    /// The devnet data directory the defaults come from.
    #[arg(long, env = "VEIL_DEVNET", default_value_os_t = default_devnet_dir())]
    devnet: PathBuf,
}

impl Connection {
    /// What the devnet wrote when it became ready, if there is a devnet here.
    fn devnet_file(&self) -> Option<DevnetRecord> {
        let text = std::fs::read_to_string(self.devnet.join("devnet.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The node, connected and checked to serve the genesis' chain.
    pub(crate) fn node(&self) -> Result<Node, CommandError> {
        let genesis = self.genesis.clone().unwrap_or_else(|| self.devnet.join("genesis.toml"));
        if !genesis.exists() {
            return Err(CommandError::BadInput(format!(
                "no genesis file at {}: start a devnet with `veil devnet`, or pass the network's genesis with --genesis FILE",
                genesis.display()
            )));
        }
        let network = Network::from_genesis_file(&genesis)?;
        let url = match &self.node {
            Some(url) => url.clone(),
            None => self.devnet_file().map_or_else(|| "http://127.0.0.1:9933".to_owned(), |file| file.rest_api),
        };
        Ok(Node::connect(&url, network)?)
    }

    /// The workers queries may go to.
    pub(crate) fn workers(&self) -> Result<Vec<Worker>, CommandError> {
        let urls: Vec<String> = if self.workers.is_empty() {
            self.devnet_file()
                .map(|file| file.workers.into_iter().map(|worker| worker.url).collect())
                .unwrap_or_default()
        } else {
            self.workers.clone()
        };
        if urls.is_empty() {
            return Err(CommandError::BadInput(
                "no worker to ask: pass --worker URL (a devnet lists its workers)".into(),
            ));
        }
        urls.iter().map(|url| Worker::new(url).map_err(CommandError::from)).collect()
    }
}

/// An account that signs: a secret URI (`//Alice`, a phrase, a `0x` seed).
pub(crate) fn signer(uri: &str) -> Result<AccountPair, CommandError> {
    // Never echo the input: a mistyped secret is one word away from the real one.
    AccountPair::from_suri(uri, None).map_err(|e| {
        CommandError::BadInput(format!(
            "the signer is not a secret URI ({e}): give a development account such as //Alice, a phrase or a 0x seed"
        ))
    })
}

/// An account: an SS58 address, a `0x` public key, or a secret URI (`//Bob`).
pub(crate) fn account(text: &str) -> Result<AccountId, CommandError> {
    if text.starts_with("//") || text.contains(' ') {
        return Ok(signer(text)?.public());
    }
    AccountId::from_str(text).map_err(|e| {
        CommandError::BadInput(format!(
            "{text:?} is not an account ({e}): give an SS58 address, a 0x public key or a development account such as //Bob"
        ))
    })
}

impl From<ClientError> for CommandError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Invalid(_) | ClientError::WrongChain { .. } => CommandError::BadInput(error.to_string()),
            ClientError::NotFound(_) | ClientError::Refused { .. } | ClientError::Unverified(_) => {
                CommandError::Negative(error.to_string())
            }
            ClientError::Unreachable { what: "node", .. } => {
                CommandError::Unavailable(format!("{error} Start one with `veil devnet`, or pass --node URL"))
            }
            ClientError::Unreachable { .. } | ClientError::Malformed(_) | ClientError::Timeout { .. } => {
                CommandError::Unavailable(error.to_string())
            }
        }
    }
}

/// A command's result in each output form.
pub(crate) struct Report {
    /// For people.
    pub(crate) text: String,
    /// For programs (`--output json`).
    pub(crate) json: Value,
    /// The one value a script wants (`--quiet`): an id, a hash, an answer.
    pub(crate) quiet: String,
}

/// How results are printed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    pub(crate) format: OutputFormat,
    pub(crate) quiet: bool,
}

impl Output {
    pub(crate) fn emit(self, report: Report) -> Result<(), CommandError> {
        let mut out = std::io::stdout().lock();
        match (self.format, self.quiet) {
            (OutputFormat::Json, _) => print_json(&mut out, &report.json),
            (OutputFormat::Text, true) => print_text(&mut out, &format!("{}\n", report.quiet)),
            (OutputFormat::Text, false) => print_text(&mut out, &report.text),
        }?;
        out.flush().map_err(|e| CommandError::BadInput(format!("cannot write output: {e}")))
    }
}

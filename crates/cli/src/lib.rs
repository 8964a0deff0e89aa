//! The `veil` command-line tool.
//!
//! Every command prints human-readable text by default and one JSON document with `--output json`.
//! Exit codes are part of the interface, so scripts can rely on them:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the command ran and the answer is "no" (for example, a signature that does not verify) |
//! | 2 | bad input: a malformed argument, key, address or file; the message says what was wrong |
//! | 3 | the network failed: a node or worker is unreachable, answered something malformed, or a wait timed out |
//!
//! Exit 1 also covers what the network says no to: a refused transaction or query, a contract or
//! worker that does not exist, an answer that does not verify.
//!
//! Errors are one line on standard error, never a stack trace. The network commands (`account`,
//! `contract`, `worker`, `block`, `tx`) are built on the `veil-client` SDK: every value they show
//! from the chain is proven against a certified header, every worker answer verified.

mod account;
mod attest;
mod chain;
mod connect;
mod contract;
mod devnet;
mod genesis;
mod key;
mod node;
mod relay;
mod workers;

pub use devnet::{DevAccount, DevnetRecord, DevnetRuntime};

use clap::{Parser, Subcommand, ValueEnum};
use std::{ffi::OsString, io::Write, process::ExitCode};

/// Veil: a confidential smart contract network.
#[derive(Parser, Debug)]
#[command(
    name = "veil",
    version,
    about = "Veil: a confidential smart contract network. New here? Run `veil devnet`, then follow docs/quickstart.md.",
    propagate_version = true
)]
struct Cli {
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
    /// Print only the result a script wants (an id, a hash, an answer) instead of the text.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// How a command prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Text for people.
    Text,
    /// One JSON document for programs.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a whole development network on 127.0.0.1: a validator, gatekeepers, workers, relayers.
    ///
    /// The validator runs in this process; the development gatekeepers genesis names and `--workers`
    /// workers run as `veil-worker` processes in software mode (no TEE: insecure, for development
    /// only), each with a `veil relay` that registers it for //Bob; //Alice forms cluster 1 of the
    /// workers. Prints `devnet ready` with the URLs and the funded accounts. Everything is kept under
    /// `--data-dir` and resumes on the next start; Ctrl-C stops it all.
    Devnet(devnet::DevnetArgs),
    /// Accounts: balances (proven) and transfers.
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// Confidential contracts: upload, instantiate, call, query, info.
    #[command(subcommand)]
    Contract(contract::ContractCommand),
    /// Registered workers and gatekeepers.
    #[command(subcommand)]
    Worker(workers::WorkerCommand),
    /// A finalized block, its certificate and body verified.
    Block(chain::BlockArgs),
    /// Where a transaction stands.
    Tx(chain::TxArgs),
    /// Account keys: generate, inspect, sign and verify (compatible with Substrate's `subkey`).
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Remote attestation: verify a quote as the chain would.
    #[command(subcommand)]
    Attest(attest::AttestCommand),
    /// Run one validator of a network, from its configuration file.
    Node(node::NodeArgs),
    /// Write the configuration of a local network of N validators (keys, shares, genesis).
    TestnetConfig(node::TestnetArgs),
    /// The genesis ceremony: assemble a network's genesis from its gatekeepers' identity records
    /// (`veil-worker init` generates each identity inside its TEE) and fresh validator keys.
    #[command(subcommand)]
    Genesis(GenesisCommand),
    /// Relay between a node and a worker runtime: feed it proven messages, submit its egress,
    /// register it.
    Relay(relay::RelayArgs),
}

/// The genesis ceremony's commands.
#[derive(Subcommand, Debug)]
enum GenesisCommand {
    /// Check every identity record, generate the validators' keys and write the genesis: the
    /// records' identities as gatekeepers (the first generates the first master key), your admin
    /// and funded accounts; no development seed or account.
    Assemble(genesis::AssembleArgs),
}

/// A command's failure, with the exit code it maps to.
#[derive(Debug)]
pub(crate) enum CommandError {
    /// The input was wrong (exit 2).
    BadInput(String),
    /// The command ran and the answer is no (exit 1).
    Negative(String),
    /// The network failed: unreachable, malformed or too slow (exit 3).
    Unavailable(String),
}

impl CommandError {
    pub(crate) fn bad_input(error: impl std::fmt::Display) -> Self {
        Self::BadInput(error.to_string())
    }
}

/// Runs the CLI on `args` (the first is the program name) and returns the process exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version requests print and succeed; usage errors exit 2 with clap's message.
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    // Commands that return lock standard output for their answer; long-running ones must not hold
    // the lock, or every log line from another thread would wait for it forever.
    let output = connect::Output { format: cli.output, quiet: cli.quiet };
    let result = match cli.command {
        Command::Key(command) => key::run(command, cli.output, &mut std::io::stdout().lock()),
        Command::Attest(command) => attest::run(command, cli.output, &mut std::io::stdout().lock()),
        Command::Devnet(args) => devnet::devnet(args, cli.output),
        Command::Node(args) => node::node(args, cli.output),
        Command::TestnetConfig(args) => node::testnet_config(args, cli.output, &mut std::io::stdout().lock()),
        Command::Genesis(GenesisCommand::Assemble(args)) => {
            genesis::assemble(args, cli.output, &mut std::io::stdout().lock())
        }
        Command::Relay(args) => relay::relay(args),
        Command::Account(command) => account::run(command, output),
        Command::Contract(command) => contract::run(command, output),
        Command::Worker(command) => workers::run(command, output),
        Command::Block(args) => chain::block(args, output),
        Command::Tx(args) => chain::tx(args, output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (code, message) = match failure {
                CommandError::BadInput(message) => (2, message),
                CommandError::Negative(message) => (1, message),
                CommandError::Unavailable(message) => (3, message),
            };
            let _ = writeln!(std::io::stderr(), "error: {message}");
            ExitCode::from(code)
        }
    }
}

/// Writes `value` as pretty JSON (keys sorted) followed by a newline.
pub(crate) fn print_json(out: &mut dyn Write, value: &serde_json::Value) -> Result<(), CommandError> {
    let text = serde_json::to_string_pretty(value).map_err(CommandError::bad_input)?;
    writeln!(out, "{text}").map_err(|error| CommandError::BadInput(format!("cannot write output: {error}")))
}

/// Writes text output.
pub(crate) fn print_text(out: &mut dyn Write, text: &str) -> Result<(), CommandError> {
    write!(out, "{text}").map_err(|error| CommandError::BadInput(format!("cannot write output: {error}")))
}

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
//!
//! Errors are one line on standard error, never a stack trace.

mod attest;
mod key;
mod node;
mod relay;

use clap::{Parser, Subcommand, ValueEnum};
use std::{ffi::OsString, io::Write, process::ExitCode};

/// Veil: a confidential smart contract network.
#[derive(Parser, Debug)]
#[command(name = "veil", version, about, propagate_version = true)]
struct Cli {
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
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
    /// Account keys: generate, inspect, sign and verify (compatible with Substrate's `subkey`).
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Remote attestation: verify a quote as the chain would.
    #[command(subcommand)]
    Attest(attest::AttestCommand),
    /// Run a one-validator development network (generated on first use, kept across restarts).
    Devnet(node::DevnetArgs),
    /// Run one validator of a network, from its configuration file.
    Node(node::NodeArgs),
    /// Write the configuration of a local network of N validators (keys, shares, genesis).
    TestnetConfig(node::TestnetArgs),
    /// Relay between a node and a worker runtime: feed it proven messages, submit its egress,
    /// register it.
    Relay(relay::RelayArgs),
}

/// A command's failure, with the exit code it maps to.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The input was wrong (exit 2).
    BadInput(String),
    /// The command ran and the answer is no (exit 1).
    Negative(String),
}

impl Failure {
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
    let result = match cli.command {
        Command::Key(command) => key::run(command, cli.output, &mut std::io::stdout().lock()),
        Command::Attest(command) => attest::run(command, cli.output, &mut std::io::stdout().lock()),
        Command::Devnet(args) => node::devnet(args, cli.output),
        Command::Node(args) => node::node(args, cli.output),
        Command::TestnetConfig(args) => node::testnet_config(args, cli.output, &mut std::io::stdout().lock()),
        Command::Relay(args) => relay::relay(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (code, message) = match failure {
                Failure::BadInput(message) => (2, message),
                Failure::Negative(message) => (1, message),
            };
            let _ = writeln!(std::io::stderr(), "error: {message}");
            ExitCode::from(code)
        }
    }
}

/// Writes `value` as pretty JSON (keys sorted) followed by a newline.
pub(crate) fn print_json(out: &mut dyn Write, value: &serde_json::Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(Failure::bad_input)?;
    writeln!(out, "{text}").map_err(|error| Failure::BadInput(format!("cannot write output: {error}")))
}

/// Writes text output.
pub(crate) fn print_text(out: &mut dyn Write, text: &str) -> Result<(), Failure> {
    write!(out, "{text}").map_err(|error| Failure::BadInput(format!("cannot write output: {error}")))
}

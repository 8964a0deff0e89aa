//! `veil node` and `veil testnet-config`, and the genesis choices they share with `veil devnet`.

use clap::Args;
use serde_json::json;
use std::{io::Write, path::PathBuf};
use veil_node::{
    config::NodeConfig,
    run::{self, Started},
    testnet::{self, Ports},
};

use crate::{CommandError, OutputFormat, print_json, print_text};

/// Genesis choices of a local network (used when it is created).
#[derive(Args, Debug)]
pub(crate) struct LocalArgs {
    /// Accept only hardware-attested workers (local networks accept software workers by default).
    #[arg(long)]
    no_insecure_workers: bool,
    /// How many development gatekeepers genesis names (1 to 16).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=16))]
    gatekeepers: u8,
    #[command(flatten)]
    timing: TimingArgs,
}

impl LocalArgs {
    pub(crate) fn options(&self) -> testnet::LocalOptions {
        testnet::LocalOptions {
            allow_insecure_workers: !self.no_insecure_workers,
            gatekeepers: self.gatekeepers,
            ..self.timing.options()
        }
    }
}

/// The timing choices of any genesis: registrations, rotation, liveness.
#[derive(Args, Debug)]
pub(crate) struct TimingArgs {
    /// How long a software worker's registration lasts, in seconds.
    #[arg(long, default_value_t = 3_600)]
    insecure_lifetime_secs: u64,
    /// Rotate every key this often, in seconds (0: only on demand, by the rotation admin).
    #[arg(long, default_value_t = 86_400)]
    rotation_interval_secs: u64,
    /// How long the previous epoch's keys still open commands after a rotation, in milliseconds.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    grace_ms: u64,
    /// How often workers send heartbeats, in milliseconds.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat_ms: u64,
    /// A cluster worker silent this long may be reported offline and replaced, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    offline_after_ms: u64,
}

impl TimingArgs {
    /// These choices over the local defaults.
    pub(crate) fn options(&self) -> testnet::LocalOptions {
        let defaults = testnet::LocalOptions::default();
        testnet::LocalOptions {
            insecure_lifetime_ms: self.insecure_lifetime_secs.saturating_mul(1_000).max(1),
            keys: testnet::KeyRules {
                rotation_interval_ms: self.rotation_interval_secs.saturating_mul(1_000),
                grace_ms: self.grace_ms,
                ..defaults.keys
            },
            liveness: testnet::Liveness {
                heartbeat_interval_ms: self.heartbeat_ms,
                offline_after_ms: self.offline_after_ms,
            },
            ..defaults
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct NodeArgs {
    /// The validator's configuration file (`node.toml`).
    #[arg(long)]
    config: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct TestnetArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// First p2p port on 127.0.0.1; validator i uses base + i.
    #[arg(long, default_value_t = 30_300)]
    p2p_base_port: u16,
    /// First REST API port on 127.0.0.1; validator i uses base + i.
    #[arg(long, default_value_t = 9_100)]
    api_base_port: u16,
    #[command(flatten)]
    local: LocalArgs,
}

/// Prints where the validator's API is once it listens: `REST API: URL` (or `rest_api` in JSON).
pub(crate) fn announce(output: OutputFormat, what: &'static str) -> impl FnOnce(Started) + Send + 'static {
    move |started: Started| {
        let url = format!("http://{}", started.api);
        let mut stdout = std::io::stdout().lock();
        let _ = match output {
            OutputFormat::Text => writeln!(stdout, "{what} running at height {}\nREST API: {url}", started.height),
            OutputFormat::Json => writeln!(stdout, "{}", json!({ "rest_api": url, "height": started.height })),
        };
        let _ = stdout.flush();
    }
}

pub(crate) fn node(args: NodeArgs, output: OutputFormat) -> Result<(), CommandError> {
    let loaded = NodeConfig::load(&args.config).map_err(CommandError::bad_input)?;
    run::run(loaded, run::Logs::Stdout, announce(output, "Veil validator")).map_err(CommandError::bad_input)
}

pub(crate) fn testnet_config(args: TestnetArgs, output: OutputFormat, out: &mut dyn Write) -> Result<(), CommandError> {
    let ports: Vec<Ports> = (0..args.validators)
        .map(|i| {
            let offset = u16::try_from(i).map_err(|_| CommandError::BadInput("too many validators".into()))?;
            Ok(Ports { p2p: args.p2p_base_port.saturating_add(offset), api: args.api_base_port.saturating_add(offset) })
        })
        .collect::<Result<_, CommandError>>()?;
    let configs =
        testnet::write(&args.out, "veil-local", &ports, &args.local.options()).map_err(CommandError::bad_input)?;
    match output {
        OutputFormat::Json => print_json(out, &json!({ "genesis": args.out.join("genesis.toml"), "configs": configs })),
        OutputFormat::Text => {
            let mut text = format!("Wrote a {}-validator network to {}:\n", configs.len(), args.out.display());
            for config in &configs {
                text.push_str(&format!("  veil node --config {}\n", config.display()));
            }
            print_text(out, &text)
        }
    }
}

//! `veil genesis assemble`: the genesis ceremony. Each genesis gatekeeper's runtime generated its
//! identity inside its TEE (`veil-worker init`) and printed an identity record; this command checks
//! every record, generates the validators' keys, and writes the genesis naming those identities,
//! the operators' own admin and funded accounts, and nothing public: no development seed, no
//! development account. The first gatekeeper record's runtime generates the first master key once
//! the chain runs.
//!
//! A record with a quote is verified like a registration: Intel's chain of trust with the given
//! collateral at the current time, the genesis TCB rules (the defaults), no debug enclave, a
//! measurement the `--policy` file allows (the release the operators agreed to run: those
//! measurements are the genesis allowlist), and report data equal to
//! `identity_report_data(identity)`. A record without a
//! quote comes from the software platform: genesis then accepts software registrations, but only
//! from the identities it was assembled from (`registration.insecure_identities`).

use clap::Args;
use serde_json::json;
use std::{io::Write, path::PathBuf};
use veil_attestation::{Collateral, Policy, verify_quote};
use veil_chain::genesis::GenesisBalance;
use veil_client::api::worker::IdentityRecord;
use veil_node::testnet::{self, Members, Ports};
use veil_primitives::{AccountId, AttestationRules, Balance, registration::identity_report_data};

use crate::{CommandError, OutputFormat, node::TimingArgs, print_json, print_text};

/// The genesis ceremony's choices.
#[derive(Args, Debug)]
pub(crate) struct AssembleArgs {
    /// Output directory: `genesis.toml` and one directory per validator (its keys and `node.toml`).
    #[arg(long)]
    out: PathBuf,
    /// Number of validators (their keys are generated here, by a trusted dealer).
    #[arg(long, default_value_t = 1)]
    validators: usize,
    /// First p2p port on 127.0.0.1; validator i uses base + i.
    #[arg(long, default_value_t = 30_300)]
    p2p_base_port: u16,
    /// First REST API port on 127.0.0.1; validator i uses base + i (0: the system picks one).
    #[arg(long, default_value_t = 9_100)]
    api_base_port: u16,
    /// A gatekeeper's identity record (from `veil-worker init`), in gatekeeper order: the first
    /// generates the first master key. 1 to 16.
    #[arg(long = "gatekeeper-record", value_name = "FILE", required = true)]
    gatekeeper_records: Vec<PathBuf>,
    /// A worker's identity record: without a quote, the software runtimes genesis lets in.
    #[arg(long = "worker-record", value_name = "FILE")]
    worker_records: Vec<PathBuf>,
    /// Intel's collateral (JSON) for the records' quotes.
    #[arg(long)]
    collateral: Option<PathBuf>,
    /// The release the runtimes must run: a policy file (TOML, as for `veil attest verify`) whose
    /// `measurements` become the genesis allowlist. Needed when a record carries a quote.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The registry, parameters and rotation admin (SS58 or 0x hex), until governance exists.
    #[arg(long)]
    admin: AccountId,
    /// A genesis balance, `ACCOUNT=TOKENS` (repeatable).
    #[arg(long = "fund", value_name = "ACCOUNT=TOKENS", value_parser = parse_balance)]
    balances: Vec<GenesisBalance>,
    #[command(flatten)]
    timing: TimingArgs,
}

fn parse_balance(text: &str) -> Result<GenesisBalance, String> {
    let (account, tokens) = text.split_once('=').ok_or_else(|| format!("{text:?} is not ACCOUNT=TOKENS"))?;
    let account: AccountId = account.parse().map_err(|e| format!("{account:?}: {e}"))?;
    let tokens: u128 = tokens.parse().map_err(|_| format!("{tokens:?} is not a whole number of tokens"))?;
    let amount = tokens.checked_mul(Balance::ONE.0).ok_or_else(|| format!("{tokens} tokens is too many"))?;
    Ok(GenesisBalance { account, amount: Balance(amount) })
}

/// What one checked record contributes: the identity, and whether it came without a quote (from
/// the software platform).
struct Checked {
    identity: [u8; 32],
    software: bool,
}

fn unhex(what: &str, text: &str) -> Result<Vec<u8>, CommandError> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).map_err(|e| CommandError::BadInput(format!("{what}: {e}")))
}

/// Reads and checks one identity record against `policy` (see the module documentation).
fn check(
    path: &PathBuf,
    collateral: Option<&Collateral>,
    policy: Option<&Policy>,
    now_secs: u64,
) -> Result<Checked, CommandError> {
    let bad = |why: String| CommandError::BadInput(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let record: IdentityRecord =
        serde_json::from_str(&text).map_err(|e| bad(format!("not an identity record: {e}")))?;
    let identity: [u8; 32] =
        unhex("identity", &record.identity)?.try_into().map_err(|_| bad("the identity is not 32 bytes".into()))?;
    let expected = identity_report_data(&identity);
    if unhex("report_data", &record.report_data)? != expected {
        return Err(bad("its report data is not the identity's: the record was altered".into()));
    }
    let Some(quote) = &record.quote else { return Ok(Checked { identity, software: true }) };
    let collateral =
        collateral.ok_or_else(|| bad("it carries a quote: pass --collateral with Intel's collateral for it".into()))?;
    let policy = policy
        .ok_or_else(|| bad("it carries a quote: pass --policy naming the measurements the network allows".into()))?;
    let verified =
        verify_quote(&unhex("quote", quote)?, collateral, now_secs, policy).map_err(|e| bad(e.to_string()))?;
    if verified.report_data != expected {
        return Err(bad("the quote vouches for another identity".into()));
    }
    Ok(Checked { identity, software: false })
}

pub(crate) fn assemble(args: AssembleArgs, output: OutputFormat, out: &mut dyn Write) -> Result<(), CommandError> {
    let collateral = match &args.collateral {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| CommandError::BadInput(format!("{}: {e}", path.display())))?;
            Some(
                Collateral::from_json(&bytes)
                    .map_err(|e| CommandError::BadInput(format!("{}: {e}", path.display())))?,
            )
        }
        None => None,
    };
    // The genesis TCB rules (the defaults) and exactly the measurements the policy file names.
    let allowed = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CommandError::BadInput(format!("{}: {e}", path.display())))?;
            let file =
                Policy::from_toml(&text).map_err(|e| CommandError::BadInput(format!("{}: {e}", path.display())))?;
            file.measurements.unwrap_or_default()
        }
        None => Vec::new(),
    };
    let policy = args.policy.as_ref().map(|_| Policy::from_rules(&AttestationRules::default(), allowed.clone()));
    let now_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let check_all = |paths: &[PathBuf]| -> Result<Vec<Checked>, CommandError> {
        paths.iter().map(|path| check(path, collateral.as_ref(), policy.as_ref(), now_secs)).collect()
    };
    let gatekeepers = check_all(&args.gatekeeper_records)?;
    let workers = check_all(&args.worker_records)?;
    let mut seen = std::collections::BTreeSet::new();
    for record in gatekeepers.iter().chain(&workers) {
        if !seen.insert(record.identity) {
            return Err(CommandError::BadInput(format!("identity 0x{} is named twice", hex::encode(record.identity))));
        }
    }
    let software: Vec<[u8; 32]> =
        gatekeepers.iter().chain(&workers).filter(|r| r.software).map(|r| r.identity).collect();
    let mut measurements = allowed;
    measurements.sort();
    measurements.dedup();
    let members = Members {
        gatekeepers: gatekeepers.iter().map(|record| record.identity).collect(),
        admin: args.admin,
        balances: args.balances,
        insecure_identities: software.clone(),
        measurements,
    };
    let options = testnet::LocalOptions { allow_insecure_workers: !software.is_empty(), ..args.timing.options() };
    let ports: Vec<Ports> = (0..args.validators)
        .map(|i| {
            let offset = u16::try_from(i).map_err(|_| CommandError::BadInput("too many validators".into()))?;
            let api = if args.api_base_port == 0 { 0 } else { args.api_base_port.saturating_add(offset) };
            Ok(Ports { p2p: args.p2p_base_port.saturating_add(offset), api })
        })
        .collect::<Result<_, CommandError>>()?;
    let configs =
        testnet::write_with(&args.out, "veil", &ports, &options, &members).map_err(CommandError::bad_input)?;
    let genesis = args.out.join("genesis.toml");
    match output {
        OutputFormat::Json => print_json(out, &json!({ "genesis": genesis, "configs": configs })),
        OutputFormat::Text => {
            let mut text = format!(
                "Wrote the genesis of {} gatekeepers and {} validators to {}",
                members.gatekeepers.len(),
                configs.len(),
                genesis.display()
            );
            if !software.is_empty() {
                text.push_str(&format!(
                    " (INSECURE: {} software runtimes may register without a quote)",
                    software.len()
                ));
            }
            text.push_str("\nStart each validator:\n");
            for config in &configs {
                text.push_str(&format!("  veil node --config {}\n", config.display()));
            }
            print_text(out, &text)
        }
    }
}

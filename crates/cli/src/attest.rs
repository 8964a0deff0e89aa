//! `veil attest verify`: the chain's quote verification, for operators to run before registering.

use clap::{Args, Subcommand};
use serde_json::json;
use std::{io::Write, path::PathBuf};
use veil_attestation::{AttestationError, Collateral, Policy, parse_quote, time::parse_rfc3339, verify_quote};

use crate::{CommandError, OutputFormat, print_json, print_text};

#[derive(Subcommand, Debug)]
pub(crate) enum AttestCommand {
    /// Verify an SGX or TDX quote with its collateral and a policy: exit 0 only when it passes.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The quote (binary, as the platform produced it; zero padding is allowed).
    #[arg(long)]
    quote: PathBuf,
    /// Its collateral (JSON, as PCCS clients produce it).
    #[arg(long)]
    collateral: PathBuf,
    /// Verify as of this time (RFC 3339, e.g. 2025-06-20T00:00:00Z) instead of now.
    #[arg(long)]
    at: Option<String>,
    /// A policy file (TOML: allowed_statuses, refused_advisories, measurements). Without one, the
    /// default statuses apply and any measurement is shown but not checked.
    #[arg(long)]
    policy: Option<PathBuf>,
}

fn read(path: &PathBuf) -> Result<Vec<u8>, CommandError> {
    std::fs::read(path).map_err(|error| CommandError::BadInput(format!("{}: {error}", path.display())))
}

pub(crate) fn run(command: AttestCommand, output: OutputFormat, out: &mut dyn Write) -> Result<(), CommandError> {
    let AttestCommand::Verify(args) = command;
    let quote = read(&args.quote)?;
    let parsed =
        parse_quote(&quote).map_err(|error| CommandError::BadInput(format!("{}: {error}", args.quote.display())))?;
    let collateral = Collateral::from_json(&read(&args.collateral)?)
        .map_err(|error| CommandError::BadInput(format!("{}: {error}", args.collateral.display())))?;
    let policy = match &args.policy {
        Some(path) => {
            let text = String::from_utf8(read(path)?)
                .map_err(|_| CommandError::BadInput(format!("{}: not UTF-8 text", path.display())))?;
            Policy::from_toml(&text).map_err(|error| CommandError::BadInput(format!("{}: {error}", path.display())))?
        }
        None => Policy::default(),
    };
    let at = match &args.at {
        Some(text) => parse_rfc3339(text).map_err(CommandError::bad_input)?,
        None => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    let measurements_checked = policy.measurements.is_some();
    match verify_quote(&quote, &collateral, at, &policy) {
        Ok(verified) => {
            let allowlist = if measurements_checked { "allowlisted" } else { "not checked (no --policy)" };
            match output {
                OutputFormat::Json => print_json(
                    out,
                    &json!({
                        "valid": true,
                        "kind": verified.kind,
                        "status": verified.status,
                        "advisories": verified.advisories,
                        "measurement": verified.measurement,
                        "measurement_allowlist": allowlist,
                        "report_data": format!("0x{}", hex::encode(verified.report_data)),
                        "collateral_expires": verified.expires,
                        "quote_bytes": verified.quote.len(),
                    }),
                ),
                OutputFormat::Text => print_text(
                    out,
                    &format!(
                        "valid:              yes\nkind:               {}\nTCB status:         {}\nadvisories:         {}\nmeasurement:        {}\nallowlist:          {allowlist}\nreport_data:        0x{}\ncollateral expires: {}\n",
                        verified.kind,
                        verified.status,
                        if verified.advisories.is_empty() { "none".to_owned() } else { verified.advisories.join(", ") },
                        verified.measurement,
                        hex::encode(verified.report_data),
                        verified.expires,
                    ),
                ),
            }
        }
        Err(error) => {
            // What the quote claims, so the operator sees what was refused.
            let claims = format!(
                "{} quote, measurement {}, report_data 0x{}",
                parsed.kind,
                parsed.measurement,
                hex::encode(parsed.report_data)
            );
            match error {
                AttestationError::Collateral(_) | AttestationError::Time(_) => Err(CommandError::bad_input(error)),
                error => Err(CommandError::Negative(format!("{error} ({claims})"))),
            }
        }
    }
}

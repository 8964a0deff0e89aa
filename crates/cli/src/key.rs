//! `veil key`: account keys, behaving like Substrate's `subkey` for the same inputs.

use clap::{Args, Subcommand};
use serde_json::json;
use std::io::{Read, Write};
use veil_crypto::{
    AccountPair,
    account::{self, AccountKeyError},
    secret_uri,
};
use veil_primitives::{AccountId, Ss58Prefix};
use zeroize::Zeroizing;

use crate::{CommandError, OutputFormat, print_json, print_text};

#[derive(Subcommand, Debug)]
pub(crate) enum KeyCommand {
    /// Generate a new random account: a BIP39 phrase and its keys.
    Generate {
        /// Number of words in the phrase: 12, 15, 18, 21 or 24.
        #[arg(long, short = 'w', default_value_t = 12)]
        words: usize,
        #[command(flatten)]
        network: NetworkArg,
    },
    /// Show the keys and address of a secret URI (phrase, 0x seed, //Alice...) or of an address.
    Inspect {
        /// A secret URI (`PHRASE//hard/soft///password`, `0xSEED`, `//Alice`), an SS58 address or
        /// a 0x public key, optionally with soft junctions (`ADDRESS/soft`).
        uri: String,
        /// Treat the input as a public key or address only.
        #[arg(long)]
        public: bool,
        /// Password, overriding any `///password` in the URI.
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        network: NetworkArg,
    },
    /// Sign a message with an account key (sr25519, context "substrate").
    Sign {
        /// The signing key's secret URI, or the path of a file holding it.
        #[arg(long)]
        suri: String,
        /// Password, overriding any `///password` in the URI.
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// Verify a signature: exit 0 when it is valid, 1 when it is not.
    Verify {
        /// The signature: 128 hex digits, with or without 0x.
        signature: String,
        /// The signer: an SS58 address, a 0x public key, or a secret URI.
        uri: String,
        #[command(flatten)]
        message: MessageArgs,
    },
}

#[derive(Args, Debug)]
pub(crate) struct NetworkArg {
    /// SS58 network for addresses: a number or polkadot, kusama, substrate.
    #[arg(long, short = 'n', default_value = "substrate")]
    network: String,
}

impl NetworkArg {
    fn prefix(&self) -> Result<Ss58Prefix, CommandError> {
        Ss58Prefix::from_name_or_id(&self.network).map_err(CommandError::bad_input)
    }
}

#[derive(Args, Debug)]
pub(crate) struct MessageArgs {
    /// The message; read from standard input when absent.
    #[arg(long, short = 'm')]
    message: Option<String>,
    /// The message is hex (with or without 0x).
    #[arg(long)]
    hex: bool,
}

impl MessageArgs {
    fn bytes(&self) -> Result<Vec<u8>, CommandError> {
        let raw = match &self.message {
            Some(message) => message.clone().into_bytes(),
            None => {
                let mut input = Vec::new();
                std::io::stdin().read_to_end(&mut input).map_err(|error| {
                    CommandError::BadInput(format!("cannot read the message from standard input: {error}"))
                })?;
                input
            }
        };
        if !self.hex {
            return Ok(raw);
        }
        let text = String::from_utf8(raw).map_err(|_| CommandError::BadInput("--hex message is not text".into()))?;
        let text = text.trim();
        hex::decode(text.strip_prefix("0x").unwrap_or(text))
            .map_err(|error| CommandError::BadInput(format!("--hex message is not valid hex: {error}")))
    }
}

pub(crate) fn run(command: KeyCommand, output: OutputFormat, out: &mut dyn Write) -> Result<(), CommandError> {
    match command {
        KeyCommand::Generate { words, network } => {
            let (phrase, pair) = AccountPair::generate(words).map_err(CommandError::bad_input)?;
            show_secret(out, output, network.prefix()?, &Source::Phrase(&phrase), &pair)
        }
        KeyCommand::Inspect { uri, public, password, network } => {
            let prefix = network.prefix()?;
            if public {
                return show_public(out, output, prefix, &uri, &public_from_uri(&uri)?);
            }
            match secret_from_uri(&uri, password.as_deref()) {
                Ok(pair) => {
                    let is_bare_phrase = !uri.contains('/') && !uri.starts_with("0x");
                    let source = if is_bare_phrase { Source::Phrase(&uri) } else { Source::Uri(&uri) };
                    show_secret(out, output, prefix, &source, &pair)
                }
                // Not a secret: an address or public key is fine too, as with subkey.
                Err(secret_error) => match public_from_uri(&uri) {
                    Ok(account) => show_public(out, output, prefix, &uri, &account),
                    Err(public_error) => Err(likelier_error(&uri, secret_error, public_error)),
                },
            }
        }
        KeyCommand::Sign { suri, password, message } => {
            let suri = read_uri_or_file(&suri)?;
            let pair = secret_from_uri(&suri, password.as_deref())?;
            let signature = pair.sign_message(&message.bytes()?).map_err(CommandError::bad_input)?;
            match output {
                OutputFormat::Text => print_text(out, &format!("0x{}\n", hex::encode(signature))),
                OutputFormat::Json => print_json(
                    out,
                    &json!({ "signature": format!("0x{}", hex::encode(signature)), "signer": pair.public().to_string() }),
                ),
            }
        }
        KeyCommand::Verify { signature, uri, message } => {
            let signature = parse_signature(&signature)?;
            let signer = public_from_uri(&uri).or_else(|public_error| {
                secret_from_uri(&uri, None)
                    .map(|pair| pair.public())
                    .map_err(|secret_error| likelier_error(&uri, secret_error, public_error))
            })?;
            let result = account::verify_account_signature(&signer, &message.bytes()?, &signature);
            if output == OutputFormat::Json {
                print_json(
                    out,
                    &json!({
                        "valid": result.is_ok(),
                        "signer": signer.to_string(),
                        "reason": result.as_ref().err().map(ToString::to_string),
                    }),
                )?;
            } else if result.is_ok() {
                print_text(out, "Signature verifies correctly.\n")?;
            }
            result.map_err(|error| CommandError::Negative(format!("signature invalid: {error}")))
        }
    }
}

fn secret_from_uri(uri: &str, password: Option<&str>) -> Result<AccountPair, CommandError> {
    AccountPair::from_suri(uri, password).map_err(|error| match error {
        AccountKeyError::Phrase(reason) => {
            CommandError::BadInput(format!("not a secret phrase, seed or secret URI ({reason})"))
        }
        other => CommandError::bad_input(other),
    })
}

/// An address or `0x` public key, optionally followed by soft junctions.
fn public_from_uri(uri: &str) -> Result<AccountId, CommandError> {
    let (head, path) = secret_uri::split_path(uri).map_err(CommandError::bad_input)?;
    let head = if head.is_empty() {
        return Err(CommandError::BadInput("no address or public key given".into()));
    } else {
        head
    };
    let account: AccountId = head.parse().map_err(|error| CommandError::BadInput(format!("{head}: {error}")))?;
    account::derive_public(&account, &path).map_err(CommandError::bad_input)
}

/// Picks the error that speaks to what the user meant: one word (no spaces, not a seed, not a
/// derivation of the development phrase) was meant as an address.
fn likelier_error(uri: &str, secret_error: CommandError, public_error: CommandError) -> CommandError {
    let head = uri.split('/').next().unwrap_or(uri);
    let meant_address = !head.is_empty() && !head.contains(' ') && !head.starts_with("0x");
    if meant_address { public_error } else { secret_error }
}

/// subkey accepts a file holding the URI in place of the URI itself.
fn read_uri_or_file(value: &str) -> Result<Zeroizing<String>, CommandError> {
    let path = std::path::Path::new(value);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|error| CommandError::BadInput(format!("cannot read {}: {error}", path.display())))?;
        return Ok(Zeroizing::new(text.trim().to_owned()));
    }
    Ok(Zeroizing::new(value.to_owned()))
}

fn parse_signature(text: &str) -> Result<[u8; 64], CommandError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut signature = [0u8; 64];
    hex::decode_to_slice(digits, &mut signature)
        .map_err(|_| CommandError::BadInput("a signature is 128 hex digits (64 bytes), optionally after 0x".into()))?;
    Ok(signature)
}

enum Source<'a> {
    Phrase(&'a str),
    Uri(&'a str),
}

fn network_id(prefix: Ss58Prefix) -> String {
    prefix.network_name().map_or_else(|| prefix.id().to_string(), str::to_owned)
}

fn show_secret(
    out: &mut dyn Write,
    output: OutputFormat,
    prefix: Ss58Prefix,
    source: &Source<'_>,
    pair: &AccountPair,
) -> Result<(), CommandError> {
    let public = pair.public();
    let public_hex = format!("0x{}", hex::encode(public.as_bytes()));
    let address = public.to_ss58(prefix);
    let seed =
        Zeroizing::new(pair.seed().map_or_else(|| "n/a".to_owned(), |s| format!("0x{}", hex::encode(s.expose()))));
    match output {
        OutputFormat::Json => {
            let (source_key, source_value) = match source {
                Source::Phrase(phrase) => ("secretPhrase", *phrase),
                Source::Uri(uri) => ("secretKeyUri", *uri),
            };
            print_json(
                out,
                &json!({
                    source_key: source_value,
                    "networkId": network_id(prefix),
                    "secretSeed": seed.as_str(),
                    "publicKey": public_hex,
                    "accountId": public_hex,
                    "ss58PublicKey": address,
                    "ss58Address": address,
                }),
            )
        }
        OutputFormat::Text => {
            let heading = match source {
                Source::Phrase(phrase) => format!("Secret phrase:       {phrase}"),
                Source::Uri(uri) => format!("Secret Key URI `{uri}` is account:"),
            };
            let text = Zeroizing::new(format!(
                "{heading}\n  Network ID:        {}\n  Secret seed:       {}\n  Public key (hex):  {public_hex}\n  Account ID:        {public_hex}\n  Public key (SS58): {address}\n  SS58 Address:      {address}\n",
                network_id(prefix),
                seed.as_str(),
            ));
            print_text(out, &text)
        }
    }
}

fn show_public(
    out: &mut dyn Write,
    output: OutputFormat,
    prefix: Ss58Prefix,
    uri: &str,
    account: &AccountId,
) -> Result<(), CommandError> {
    let public_hex = format!("0x{}", hex::encode(account.as_bytes()));
    let address = account.to_ss58(prefix);
    match output {
        OutputFormat::Json => print_json(
            out,
            &json!({
                "publicKeyUri": uri,
                "networkId": network_id(prefix),
                "publicKey": public_hex,
                "accountId": public_hex,
                "ss58PublicKey": address,
                "ss58Address": address,
            }),
        ),
        OutputFormat::Text => print_text(
            out,
            &format!(
                "Public Key URI `{uri}` is account:\n  Network ID/Version: {}\n  Public key (hex):   {public_hex}\n  Account ID:         {public_hex}\n  Public key (SS58):  {address}\n  SS58 Address:       {address}\n",
                network_id(prefix)
            ),
        ),
    }
}

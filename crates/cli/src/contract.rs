//! `veil contract`: upload, instantiate, call, query and inspect confidential contracts.
//!
//! Commands, queries and constructor arguments are given as JSON (or a bare variant name such as
//! `Deposit`) and encoded with the interface the contract's wasm carries (see
//! `veil_client::interface`); `--hex` passes SCALE bytes as they are, for code without one.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::{path::PathBuf, str::FromStr};
use veil_client::{
    Node, contracts,
    contracts::{Acceptance, CommandOutcome, Deployed, Session},
    interface::Interface,
    unhex,
};
use veil_primitives::{Balance, ClusterId, ContractId, Hash};

use crate::{
    CommandError,
    account::{FINALITY_TIMEOUT, SubmitArgs},
    connect::{Connection, Output, Report, signer},
};

/// Fuel prepaid for a command or constructor unless `--fuel` says otherwise.
const DEFAULT_FUEL: u64 = 20_000_000;
/// How many blocks a query session stays valid.
const SESSION_BLOCKS: u64 = 1_000;

#[derive(Subcommand, Debug)]
pub(crate) enum ContractCommand {
    /// Upload a wasm module (built with contracts/build.sh) and print its code hash.
    Upload {
        /// The .wasm file.
        wasm: PathBuf,
        /// Who pays and signs: a secret URI such as //Alice.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        submit: SubmitArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// Instantiate uploaded code on a cluster and print the new contract's id.
    Instantiate {
        /// The code hash `upload` printed.
        code: String,
        /// Who deploys, pays and owns it: a secret URI such as //Alice.
        #[arg(long)]
        from: String,
        /// The cluster that runs it.
        #[arg(long, default_value_t = 1)]
        cluster: u32,
        /// The constructor argument as JSON (default: none, for constructors that take `()`).
        #[arg(long)]
        args: Option<String>,
        /// 32 bytes of hex that make the id unique [default: random].
        #[arg(long)]
        salt: Option<String>,
        #[command(flatten)]
        message: MessageArgs,
        #[command(flatten)]
        submit: SubmitArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// Send a command, sealed to the contract's key, and wait until a worker carried it out.
    Call {
        /// The contract id.
        contract: String,
        /// The command as JSON, e.g. '{"Transfer": {"asset": "Native", "to": "//Bob", "amount": "5", "memo": ""}}', or a bare variant name.
        command: String,
        /// Who sends and signs: a secret URI such as //Alice.
        #[arg(long)]
        from: String,
        /// Native tokens sent along (locked in the contract).
        #[arg(long, default_value = "0")]
        value: String,
        #[command(flatten)]
        message: MessageArgs,
        #[command(flatten)]
        submit: SubmitArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// Ask a worker a query, signed by a session key of the account, and verify the answer.
    Query {
        /// The contract id.
        contract: String,
        /// The query as JSON, e.g. '{"Balance": {"owner": "//Bob", "asset": "Native"}}', or a bare variant name.
        query: String,
        /// Who asks: a secret URI such as //Bob (contracts answer some queries to their owner only).
        #[arg(long)]
        from: String,
        /// The query is SCALE bytes in hex; the answer is printed as hex.
        #[arg(long)]
        hex: bool,
        /// Refuse answers from software workers even on a network that allows them.
        #[arg(long)]
        require_tee: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// A contract's code, cluster, owner, keys and interface, proven.
    Info {
        /// The contract id.
        contract: String,
        #[command(flatten)]
        connection: Connection,
    },
}

/// How a command or constructor argument is given.
#[derive(Args, Debug)]
pub(crate) struct MessageArgs {
    /// The argument is SCALE bytes in hex, not JSON.
    #[arg(long)]
    hex: bool,
    /// Fuel prepaid (charged at the fuel price in the chain's parameters; what is unused is not refunded).
    #[arg(long, default_value_t = DEFAULT_FUEL)]
    fuel: u64,
}

pub(crate) fn run(command: ContractCommand, output: Output) -> Result<(), CommandError> {
    match command {
        ContractCommand::Upload { wasm, from, submit, connection } => {
            upload(&wasm, &from, &submit, &connection, output)
        }
        ContractCommand::Instantiate { code, from, cluster, args, salt, message, submit, connection } => {
            let code = parse_hash(&code, "code hash")?;
            instantiate(
                code,
                &from,
                ClusterId(cluster),
                args.as_deref(),
                salt.as_deref(),
                &message,
                &submit,
                &connection,
                output,
            )
        }
        ContractCommand::Call { contract, command, from, value, message, submit, connection } => {
            call(&contract, &command, &from, &value, &message, &submit, &connection, output)
        }
        ContractCommand::Query { contract, query, from, hex, require_tee, connection } => {
            ask(&contract, &query, &from, hex, require_tee, &connection, output)
        }
        ContractCommand::Info { contract, connection } => info(&contract, &connection, output),
    }
}

fn parse_hash(text: &str, what: &str) -> Result<Hash, CommandError> {
    Hash::from_str(text).map_err(|_| CommandError::BadInput(format!("{text:?} is not a {what} (0x and 64 hex digits)")))
}

fn parse_contract(text: &str) -> Result<ContractId, CommandError> {
    parse_hash(text, "contract id").map(|hash| ContractId(hash.0))
}

/// JSON as given, or a bare word (a variant name such as `Deposit`) as a JSON string.
fn json_argument(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.trim().to_owned()))
}

/// The interface carried by code `code` (proven), with a hint when there is none.
fn interface_of(node: &Node, code: &Hash) -> Result<Interface, CommandError> {
    let module = node.code(code)?.value.ok_or_else(|| {
        CommandError::Negative(format!(
            "no code {code} on chain: upload the module first (built-in contracts have none: pass --hex with SCALE bytes)"
        ))
    })?;
    Interface::from_wasm(&module)?.ok_or_else(|| {
        CommandError::BadInput(format!("code {code} carries no interface description: pass --hex with SCALE bytes"))
    })
}

fn upload(
    wasm: &PathBuf,
    from: &str,
    submit: &SubmitArgs,
    connection: &Connection,
    output: Output,
) -> Result<(), CommandError> {
    let from = signer(from)?;
    let module = std::fs::read(wasm).map_err(|e| {
        CommandError::BadInput(format!("{}: {e} (contracts/build.sh builds the example contracts)", wasm.display()))
    })?;
    let interface =
        Interface::from_wasm(&module).map_err(|e| CommandError::BadInput(format!("{}: {e}", wasm.display())))?;
    let node = connection.node()?;
    let (code, submitted) = contracts::upload(&node, &from, &module)?;
    let height = if submit.no_wait { None } else { Some(node.wait_finalized(&submitted.hash, FINALITY_TIMEOUT)?) };
    let status = height.map_or_else(|| "submitted".to_owned(), |height| format!("finalized in block {height}"));
    let described = interface.as_ref().map_or_else(
        || "no interface: commands and queries need --hex".to_owned(),
        |i| format!("interface {:?}: commands {}; queries {}", i.name, i.commands().join(", "), i.queries().join(", ")),
    );
    output.emit(Report {
        text: format!(
            "Uploaded {} ({} bytes): {status}\n  code hash:   {code}\n  {described}\n  transaction: {}\n",
            wasm.display(),
            module.len(),
            submitted.hash
        ),
        json: json!({
            "code": code.to_string(),
            "bytes": module.len(),
            "interface": interface.map(|i| i.name),
            "transaction": submitted.hash.to_string(),
            "height": height,
        }),
        quiet: code.to_string(),
    })
}

#[allow(clippy::too_many_arguments)]
fn instantiate(
    code: Hash,
    from: &str,
    cluster: ClusterId,
    args: Option<&str>,
    salt: Option<&str>,
    message: &MessageArgs,
    submit: &SubmitArgs,
    connection: &Connection,
    output: Output,
) -> Result<(), CommandError> {
    let from = signer(from)?;
    let salt: [u8; 32] = match salt {
        Some(text) => unhex(text)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| CommandError::BadInput(format!("salt {text:?}: give 32 bytes of hex")))?,
        None => {
            veil_crypto::random::random_bytes().map_err(|e| CommandError::BadInput(format!("no randomness: {e}")))?
        }
    };
    let node = connection.node()?;
    let argument = match (args, message.hex) {
        (Some(text), true) => unhex(text)?,
        (args, false) => {
            let value = args.map_or(Value::Null, json_argument);
            interface_of(&node, &code)?.encode_init(&value)?
        }
        (None, true) => Vec::new(),
    };
    let (contract, submitted) = contracts::instantiate(&node, &from, code, cluster, salt, &argument, message.fuel)?;
    let mut height = None;
    if !submit.no_wait {
        height = Some(node.wait_finalized(&submitted.hash, FINALITY_TIMEOUT)?);
        contracts::wait_for_keys(&node, &contract, FINALITY_TIMEOUT)?;
    }
    let status = height.map_or_else(|| "submitted".to_owned(), |h| format!("finalized in block {h}, keys published"));
    output.emit(Report {
        text: format!(
            "Instantiated code {code} on cluster {}: {status}\n  contract:    {contract}\n  transaction: {}\n",
            cluster.0, submitted.hash
        ),
        json: json!({
            "contract": contract.to_string(),
            "code": code.to_string(),
            "cluster": cluster.0,
            "transaction": submitted.hash.to_string(),
            "height": height,
        }),
        quiet: contract.to_string(),
    })
}

#[allow(clippy::too_many_arguments)]
fn call(
    contract: &str,
    command: &str,
    from: &str,
    value: &str,
    message: &MessageArgs,
    submit: &SubmitArgs,
    connection: &Connection,
    output: Output,
) -> Result<(), CommandError> {
    let contract = parse_contract(contract)?;
    let from = signer(from)?;
    let value = Balance::from_str(value).map_err(|e| CommandError::BadInput(format!("--value: {e}")))?;
    let node = connection.node()?;
    let deployed = contracts::deployed(&node, &contract)?;
    let info = &deployed.info;
    let bytes = if message.hex {
        unhex(command)?
    } else {
        interface_of(&node, &info.code)?.encode_command(&json_argument(command))?
    };
    let submitted = contracts::command(&node, &from, &deployed, &bytes, message.fuel, value)?;
    if submit.no_wait {
        return output.emit(Report {
            text: format!("Command to {contract} submitted\n  transaction: {}\n", submitted.hash),
            json: json!({ "transaction": submitted.hash.to_string(), "status": "submitted" }),
            quiet: submitted.hash.to_string(),
        });
    }
    let height = node.wait_finalized(&submitted.hash, FINALITY_TIMEOUT)?;
    let workers = connection.workers().unwrap_or_default();
    // Without a reachable worker of the cluster the command is still final; only its outcome is
    // unknown here.
    let outcome = match contracts::cluster_member(&node, &workers, info.cluster) {
        Ok(member) => {
            let outcome = contracts::outcome(member.worker, &from.public(), submitted.nonce, height, FINALITY_TIMEOUT)?;
            Some((outcome, member.worker.clone()))
        }
        Err(_) => None,
    };
    let (status, executed) = match &outcome {
        Some((CommandOutcome::Executed { .. }, worker)) => {
            (format!("executed by the worker at {}", worker.url()), Some(true))
        }
        Some((CommandOutcome::Refused(reason), _)) => (format!("refused: {reason}"), Some(false)),
        None => ("finalized; no worker of its cluster was given to confirm execution (--worker URL)".to_owned(), None),
    };
    let report = Report {
        text: format!("Command to {contract} in block {height}: {status}\n  transaction: {}\n", submitted.hash),
        json: json!({
            "transaction": submitted.hash.to_string(),
            "height": height,
            "executed": executed,
            "refusal": match &outcome { Some((CommandOutcome::Refused(reason), _)) => Some(reason.clone()), _ => None },
        }),
        quiet: submitted.hash.to_string(),
    };
    if executed == Some(false) {
        output.emit(report)?;
        return Err(CommandError::Negative(format!("the command was refused: {status}")));
    }
    output.emit(report)
}

fn ask(
    contract: &str,
    query: &str,
    from: &str,
    hex: bool,
    require_tee: bool,
    connection: &Connection,
    output: Output,
) -> Result<(), CommandError> {
    let contract = parse_contract(contract)?;
    let from = signer(from)?;
    let node = connection.node()?;
    let deployed = contracts::deployed(&node, &contract)?;
    let info = &deployed.info;
    let (interface, question) =
        if hex { (None, Value::Null) } else { (Some(interface_of(&node, &info.code)?), json_argument(query)) };
    let payload = match &interface {
        Some(interface) => interface.encode_query(&question)?,
        None => unhex(query)?,
    };
    let workers = connection.workers()?;
    let height = deployed.header.height;
    let session = Session::new(&from, node.network().chain_id(), height, height + SESSION_BLOCKS)?;
    let accept = Acceptance { insecure_workers: !require_tee, ..Acceptance::default() };
    let answer = contracts::query(&node, &workers, &session, &deployed, &payload, accept)?;
    let bytes = answer.result.map_err(|reason| CommandError::Negative(format!("the contract refused: {reason}")))?;
    let value = match &interface {
        Some(interface) => {
            interface.decode_answer(&question, &bytes)?.unwrap_or_else(|| json!(veil_client::hex0x(&bytes)))
        }
        None => json!(veil_client::hex0x(&bytes)),
    };
    let shown = match &value {
        Value::String(text) => text.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    let warning =
        if answer.insecure { "\n  WARNING: a software worker (no TEE) answered: development only" } else { "" };
    output.emit(Report {
        text: format!(
            "{shown}\n(verified: answered by worker 0x{} at block {}, code {}){warning}\n",
            hex::encode(answer.worker),
            answer.height,
            answer.code
        ),
        json: json!({
            "answer": value,
            "worker": veil_client::hex0x(answer.worker),
            "height": answer.height,
            "code": answer.code.to_string(),
            "insecure": answer.insecure,
        }),
        quiet: shown,
    })
}

fn info(contract: &str, connection: &Connection, output: Output) -> Result<(), CommandError> {
    let contract = parse_contract(contract)?;
    let node = connection.node()?;
    let Deployed { info, header, .. } = contracts::deployed(&node, &contract)?;
    let interface = if info.wasm { interface_of(&node, &info.code).ok() } else { None };
    let keys = info.keys.map_or_else(|| "not published yet".to_owned(), |k| format!("epoch {}", k.epoch.0));
    let mut text = format!(
        "Contract {contract} (proven at block {})\n  code:    {}{}\n  cluster: {}\n  owner:   {}\n  locked:  {}\n  keys:    {keys}\n",
        header.height,
        info.code,
        if info.wasm { "" } else { " (built into the runtime)" },
        info.cluster.0,
        info.owner,
        info.locked,
    );
    if let Some(interface) = &interface {
        text.push_str(&format!(
            "  interface: {}\n    commands: {}\n    queries:  {}\n",
            interface.name,
            interface.commands().join(", "),
            interface.queries().join(", ")
        ));
    }
    output.emit(Report {
        text,
        json: json!({
            "contract": contract.to_string(),
            "code": info.code.to_string(),
            "wasm": info.wasm,
            "cluster": info.cluster.0,
            "owner": info.owner.to_string(),
            "locked_units": info.locked.0.to_string(),
            "key_epoch": info.keys.map(|k| k.epoch.0),
            "interface": interface.as_ref().map(|i| json!({ "name": i.name, "commands": i.commands(), "queries": i.queries() })),
            "height": header.height,
        }),
        quiet: info.code.to_string(),
    })
}

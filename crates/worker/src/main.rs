//! `veil-worker`: the runtime as a process. It reads the genesis file, restores its newest good
//! sealed checkpoint (or starts fresh with new keys), and serves its API until stopped. A relayer
//! (`veil relay`) feeds it and submits what it sends.
//!
//! `veil-worker init` is the runtime's part of the genesis ceremony: before any genesis exists it
//! generates the runtime's identity inside the TEE, seals it into the data directory (a later
//! start takes it from there) and prints the identity record `veil genesis assemble` reads.

use clap::{Parser, Subcommand, ValueEnum};
use std::{
    io::Write,
    net::TcpListener,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};
use veil_api::{hex0x, worker::IdentityRecord};
use veil_attestation::{GramineSgx, InsecureSoftware, Platform};
use veil_crypto::{Sealer, SecretBytes, runtime_key::dev_gatekeeper_seed_at};
use veil_genesis::Genesis;
use veil_primitives::{AccountId, registration::identity_report_data};
use veil_worker::{
    checkpoint::CheckpointStore,
    runtime::{Host, OsRandomness, QueryLimits, Randomness, Role, Runtime},
    service::{Service, log, serve},
};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    /// Run the contracts assigned to this worker.
    Worker,
    /// Hold the master key and hand out cluster keys.
    Gatekeeper,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PlatformArg {
    /// No TEE: development only, loudly insecure.
    Software,
    /// Intel SGX under Gramine.
    GramineSgx,
}

/// The Veil worker runtime.
#[derive(Parser, Debug)]
#[command(name = "veil-worker", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The chain's genesis file; the runtime computes the chain id from it and trusts nothing else.
    #[arg(long, required = true)]
    genesis: Option<PathBuf>,
    /// Where sealed checkpoints (and, in software mode, the sealing key) live.
    #[arg(long, required = true)]
    data_dir: Option<PathBuf>,
    /// The address the API listens on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// Worker or gatekeeper.
    #[arg(long, value_enum, default_value = "worker")]
    role: RoleArg,
    /// The TEE platform.
    #[arg(long, value_enum, default_value = "software")]
    platform: PlatformArg,
    /// The operator account that registers this runtime (SS58 or 0x hex): it quotes registrations
    /// for no other, so nobody else can register it as theirs.
    #[arg(long, required = true)]
    operator: Option<AccountId>,
    /// Act as development gatekeeper N (0 when no number is given), whose identity seed is public
    /// (local networks only; refused unless genesis allows insecure workers).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0")]
    dev_gatekeeper: Option<u8>,
    /// Refuse queries from clients that know a height more than this many blocks ahead.
    #[arg(long, default_value_t = 20)]
    max_lag_blocks: u64,
    /// Refuse queries when the newest block is older than this by the local clock (0: no check).
    #[arg(long, default_value_t = 30)]
    max_age_secs: u64,
    /// Threads running API requests (reading and writing them takes none: one event loop does).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Open API connections at once; over it, the one that has waited longest for its request
    /// to finish is closed.
    #[arg(long, default_value_t = veil_http::Limits::default().max_connections)]
    max_connections: usize,
    /// Seconds a connection has to send its whole request.
    #[arg(long, default_value_t = veil_http::Limits::default().request_deadline.as_secs())]
    request_deadline_secs: u64,
    /// Seconds a connection has to read its whole answer.
    #[arg(long, default_value_t = veil_http::Limits::default().write_deadline.as_secs())]
    write_deadline_secs: u64,
    /// Exit when standard input closes (`veil devnet` holds the other end).
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate this runtime's identity inside its TEE before any genesis exists, seal it into
    /// --data-dir and print its identity record (JSON, also written to `identity.json` there) for
    /// `veil genesis assemble`. A later start with this --data-dir runs as that identity.
    Init {
        /// Where the sealed identity (and, in software mode, the sealing key) is kept.
        #[arg(long)]
        data_dir: PathBuf,
        /// The TEE platform.
        #[arg(long, value_enum, default_value = "software")]
        platform: PlatformArg,
    },
}

/// What sealed identities are bound to.
const IDENTITY_PURPOSE: &str = "veil/worker/identity/v1";
/// The sealed identity seed in a data directory.
const IDENTITY_FILE: &str = "identity.sealed";
/// The identity record in a data directory.
const RECORD_FILE: &str = "identity.json";

fn open_platform(platform: PlatformArg, data_dir: &Path) -> Result<Box<dyn Platform + Send + Sync>, String> {
    Ok(match platform {
        PlatformArg::Software => {
            Box::new(InsecureSoftware::open(&data_dir.join("sealing.key")).map_err(|e| format!("sealing key: {e}"))?)
        }
        PlatformArg::GramineSgx => Box::new(GramineSgx::new("/dev/attestation")),
    })
}

fn identity_sealer(platform: &dyn Platform) -> Result<Sealer, String> {
    let source = platform.sealing().ok_or("this platform has no sealing secret")?;
    Sealer::new(source).map_err(|e| format!("sealing: {e}"))
}

/// `veil-worker init`: a fresh identity, sealed; its record printed and kept next to it.
fn init(data_dir: &Path, platform: PlatformArg) -> Result<(), String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let sealed_path = data_dir.join(IDENTITY_FILE);
    if sealed_path.exists() {
        return Err(format!("{} holds an identity already; a runtime keeps one identity", sealed_path.display()));
    }
    let platform = open_platform(platform, data_dir)?;
    let seed = OsRandomness.secret().map_err(|e| format!("no randomness: {e}"))?;
    let identity = veil_crypto::RuntimeSigner::from_seed(&seed).public();
    let report_data = identity_report_data(&identity);
    let quote = platform.quote(&report_data).map_err(|e| format!("quote: {e}"))?;
    let sealed =
        identity_sealer(platform.as_ref())?.seal(IDENTITY_PURPOSE, seed.expose()).map_err(|e| e.to_string())?;
    veil_crypto::private_file::write(&sealed_path, &sealed).map_err(|e| format!("{}: {e}", sealed_path.display()))?;
    let record = IdentityRecord { identity: hex0x(identity), report_data: hex0x(report_data), quote: quote.map(hex0x) };
    let text = serde_json::to_string_pretty(&record).map_err(|e| e.to_string())?;
    let record_path = data_dir.join(RECORD_FILE);
    std::fs::write(&record_path, &text).map_err(|e| format!("{}: {e}", record_path.display()))?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    Ok(())
}

/// The identity seed `veil-worker init` sealed into `data_dir`, if it did.
fn sealed_identity(data_dir: &Path, platform: &dyn Platform) -> Result<Option<SecretBytes<32>>, String> {
    let path = data_dir.join(IDENTITY_FILE);
    let blob = match std::fs::read(&path) {
        Ok(blob) => blob,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("{}: {error}", path.display())),
    };
    let plain = identity_sealer(platform)?
        .unseal(IDENTITY_PURPOSE, &blob)
        .map_err(|e| format!("{}: {e} (sealed on another machine or platform?)", path.display()))?;
    let seed: [u8; 32] = plain[..].try_into().map_err(|_| format!("{}: not a 32-byte seed", path.display()))?;
    Ok(Some(SecretBytes::new(seed)))
}

/// Ends the process once standard input reaches its end: a parent that holds the pipe's other end
/// takes this process with it whenever it ends, even by SIGKILL. Checkpoints survive any stop.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
}

fn run(args: Args) -> Result<(), String> {
    if let Some(Command::Init { data_dir, platform }) = &args.command {
        return init(data_dir, *platform);
    }
    if args.exit_with_stdin {
        exit_when_stdin_closes();
    }
    let (Some(genesis_path), Some(data_dir), Some(operator)) = (&args.genesis, &args.data_dir, args.operator) else {
        return Err("--genesis, --data-dir and --operator are required to run the runtime".into());
    };
    let text = std::fs::read_to_string(genesis_path).map_err(|e| format!("{}: {e}", genesis_path.display()))?;
    let genesis = Genesis::from_toml(&text).map_err(|e| format!("{}: {e}", genesis_path.display()))?;
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let platform = open_platform(args.platform, data_dir)?;
    let insecure = matches!(args.platform, PlatformArg::Software);
    if insecure {
        log(format_args!(
            "WARNING: software mode: no TEE protects this runtime's keys or state from this machine's owner"
        ));
    }
    let source = platform.sealing().ok_or("this platform has no sealing secret")?;
    let sealer = Sealer::new(source).map_err(|e| format!("sealing: {e}"))?;
    let mut store = CheckpointStore::open(&data_dir.join("checkpoints"), sealer).map_err(|e| e.to_string())?;
    let limits = QueryLimits {
        max_lag_blocks: args.max_lag_blocks,
        max_age_ms: (args.max_age_secs > 0).then_some(args.max_age_secs * 1_000),
        ..QueryLimits::default()
    };
    let role = match args.role {
        RoleArg::Worker => Role::Worker,
        RoleArg::Gatekeeper => Role::Gatekeeper,
    };
    if args.dev_gatekeeper.is_some() && (!genesis.allow_insecure_workers || !matches!(role, Role::Gatekeeper)) {
        return Err("--dev-gatekeeper needs --role gatekeeper and a genesis that allows insecure workers".into());
    }
    let loaded = store.load().map_err(|e| e.to_string())?;
    let runtime = match loaded {
        Some(loaded) => {
            for (slot, why) in &loaded.skipped {
                log(format_args!("checkpoint {slot} skipped: {why}"));
            }
            let runtime =
                Runtime::restore(&genesis, Host::new(insecure, limits), &loaded.state).map_err(|e| e.to_string())?;
            if runtime.role() != role {
                return Err(format!("the checkpoint in {} is of another role", data_dir.display()));
            }
            log(format_args!(
                "restored checkpoint generation {} at height {}",
                loaded.generation,
                runtime.view().height
            ));
            runtime
        }
        None => {
            // The identity `veil-worker init` sealed here, a development gatekeeper's public seed,
            // or (neither) a fresh one.
            let seed = match (sealed_identity(data_dir, platform.as_ref())?, args.dev_gatekeeper) {
                (Some(_), Some(_)) => {
                    return Err("--dev-gatekeeper cannot run a data directory that holds its own identity".into());
                }
                (Some(seed), None) => Some(seed),
                (None, dev) => dev.map(dev_gatekeeper_seed_at),
            };
            let runtime = Runtime::new(&genesis, Host::new(insecure, limits), role, seed).map_err(|e| e.to_string())?;
            store.save(&runtime.checkpoint()).map_err(|e| e.to_string())?;
            runtime
        }
    };
    let abort_after = std::env::var("VEIL_WORKER_ABORT_AFTER_MESSAGES").ok().and_then(|value| value.parse().ok());
    let listener = TcpListener::bind(&args.listen).map_err(|e| format!("{}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let identity = hex::encode(runtime.identity());
    let service = Arc::new(Service::new(runtime, store, platform, operator, abort_after));
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "veil-worker listening on http://{address} identity=0x{identity}");
    let _ = stdout.flush();
    drop(stdout);
    let limits = veil_http::Limits {
        max_connections: args.max_connections.max(1),
        request_deadline: Duration::from_secs(args.request_deadline_secs.max(1)),
        write_deadline: Duration::from_secs(args.write_deadline_secs.max(1)),
        ..veil_http::Limits::default()
    };
    serve(service, listener, args.threads, limits).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log(format_args!("error: {message}"));
            ExitCode::from(2)
        }
    }
}

//! `veil-worker`: the runtime as a process. It reads the genesis file, restores its newest good
//! sealed checkpoint (or starts fresh with new keys), and serves its API until stopped. A relayer
//! (`veil relay`) feeds it and submits what it sends.

use clap::{Parser, ValueEnum};
use std::{io::Write, net::TcpListener, path::PathBuf, process::ExitCode, sync::Arc};
use veil_attestation::{GramineSgx, InsecureSoftware, Platform};
use veil_crypto::{Sealer, runtime_key::dev_gatekeeper_seed_at};
use veil_genesis::Genesis;
use veil_primitives::AccountId;
use veil_worker::{
    checkpoint::CheckpointStore,
    runtime::{Host, QueryLimits, Role, Runtime},
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
#[command(name = "veil-worker", version)]
struct Args {
    /// The chain's genesis file; the runtime computes the chain id from it and trusts nothing else.
    #[arg(long)]
    genesis: PathBuf,
    /// Where sealed checkpoints (and, in software mode, the sealing key) live.
    #[arg(long)]
    data_dir: PathBuf,
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
    #[arg(long)]
    operator: AccountId,
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
    /// Threads serving the API.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Exit when standard input closes (`veil devnet` holds the other end).
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
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
    if args.exit_with_stdin {
        exit_when_stdin_closes();
    }
    let text = std::fs::read_to_string(&args.genesis).map_err(|e| format!("{}: {e}", args.genesis.display()))?;
    let genesis = Genesis::from_toml(&text).map_err(|e| format!("{}: {e}", args.genesis.display()))?;
    std::fs::create_dir_all(&args.data_dir).map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    let platform: Box<dyn Platform + Send + Sync> = match args.platform {
        PlatformArg::Software => Box::new(
            InsecureSoftware::open(&args.data_dir.join("sealing.key")).map_err(|e| format!("sealing key: {e}"))?,
        ),
        PlatformArg::GramineSgx => Box::new(GramineSgx::new("/dev/attestation")),
    };
    let insecure = matches!(args.platform, PlatformArg::Software);
    if insecure {
        log(format_args!(
            "WARNING: software mode: no TEE protects this runtime's keys or state from this machine's owner"
        ));
    }
    let source = platform.sealing().ok_or("this platform has no sealing secret")?;
    let sealer = Sealer::new(source).map_err(|e| format!("sealing: {e}"))?;
    let mut store = CheckpointStore::open(&args.data_dir.join("checkpoints"), sealer).map_err(|e| e.to_string())?;
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
                return Err(format!("the checkpoint in {} is of another role", args.data_dir.display()));
            }
            log(format_args!(
                "restored checkpoint generation {} at height {}",
                loaded.generation,
                runtime.view().height
            ));
            runtime
        }
        None => {
            let seed = args.dev_gatekeeper.map(dev_gatekeeper_seed_at);
            let runtime = Runtime::new(&genesis, Host::new(insecure, limits), role, seed).map_err(|e| e.to_string())?;
            store.save(&runtime.checkpoint()).map_err(|e| e.to_string())?;
            runtime
        }
    };
    let abort_after = std::env::var("VEIL_WORKER_ABORT_AFTER_MESSAGES").ok().and_then(|value| value.parse().ok());
    let listener = TcpListener::bind(&args.listen).map_err(|e| format!("{}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let identity = hex::encode(runtime.identity());
    let service = Arc::new(Service::new(runtime, store, platform, args.operator, abort_after));
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "veil-worker listening on http://{address} identity=0x{identity}");
    let _ = stdout.flush();
    drop(stdout);
    serve(service, listener, args.threads).map_err(|e| e.to_string())
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

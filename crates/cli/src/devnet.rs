//! `veil devnet`: a whole development network from one command.
//!
//! **Processes.** The validator runs inside this process, as before. Every runtime runs as its own
//! `veil-worker` process, because the runtime is the TEE boundary and its process is what
//! production runs: first each development gatekeeper genesis names (`--dev-gatekeeper i`), then
//! `--workers` workers, all in software mode. Each runtime gets its relayer, `veil relay
//! --operator //Bob`, as another child process. `--validator-only` runs the validator alone.
//!
//! **Ports**, all on 127.0.0.1: the REST API on P (`--api-port`), `gatekeeper-<i>` on P+1+i,
//! `worker-<j>` (numbered from 1) on P+gatekeepers+j, all checked free before anything starts. With
//! P = 0 every port is a free one, picked once the validator listens.
//!
//! **Data**, all under `--data-dir`: the chain (`genesis.toml`, `validator-0/`), each runtime's
//! sealing key and checkpoints in `runtimes/<name>/`, each child's output appended to
//! `logs/<name>.log`, and once ready `devnet.json` (what `--output json` prints), where the other
//! commands find the URLs. A restart resumes all of it (same chain, same runtime identities, the cluster
//! formed once); `--reset` deletes the whole directory first.
//!
//! **Lifetime.** Each child reads its standard input, a pipe whose other end only this process
//! holds, and exits at its end (`--exit-with-stdin`). So whenever this process ends, by Ctrl-C,
//! SIGTERM, SIGKILL or a panic, the kernel closes the pipes and the children follow, without any
//! signal handling here. A child that exits while the devnet runs is reported with its log.
//!
//! **Readiness**, in stages, each bounded and reported with the time since start: the REST API
//! listens; a block finalizes; each runtime serves its API (its relayer starts then); the runtimes
//! are registered on chain; `//Alice` forms cluster 1 of the workers, retried until the first key
//! epoch is open and the workers announced their epoch keys; the gatekeepers publish the cluster's
//! key and the workers see themselves in it. Then `devnet ready` and a summary (one JSON object
//! with `--output json`). If a stage fails, the devnet says which and which log to read, stops its
//! children and exits with 1.

use clap::Args;
use serde::{Deserialize, Serialize};
use std::{
    fs::OpenOptions,
    io::Write,
    net::{Ipv4Addr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use veil_crypto::{AccountPair, RuntimeSigner, runtime_key::dev_gatekeeper_seed_at};
use veil_node::{
    config::{Loaded, NodeConfig},
    run::{self, Started},
    testnet::{self, DEV_ACCOUNTS},
};
use veil_primitives::{Call, ClusterId, ContractsCall, SenderId};

use veil_client::{Error as ClientError, NodeApi, Worker};

use crate::{
    CommandError, OutputFormat,
    node::{LocalArgs, announce},
};

/// The REST API's port when `--api-port` is not given to a new devnet.
const DEFAULT_API_PORT: u16 = 9933;
/// How long one readiness stage may take.
const STAGE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a readiness stage checks again.
const POLL: Duration = Duration::from_millis(100);
/// How often a relayer runs a round: short, so the network is ready soon.
const RELAY_INTERVAL_MS: &str = "100";
/// The cluster the devnet forms of its workers.
const CLUSTER: u32 = 1;
/// The account that registers every runtime (and pays for it).
const OPERATOR: &str = "//Bob";

/// [`OPERATOR`]'s address, which the runtimes are started for.
fn operator_address() -> String {
    AccountPair::from_suri(OPERATOR, None).map(|pair| pair.public().to_string()).unwrap_or_default()
}
/// The devnet's registry admin, who forms clusters.
const REGISTRY_ADMIN: &str = "//Alice";
/// The file in the data dir that says where the running devnet is (its `--output json` object).
const DEVNET_FILE: &str = "devnet.json";

/// Arguments of `veil devnet`.
#[derive(Args, Debug)]
pub(crate) struct DevnetArgs {
    /// Where the devnet keeps everything: the chain, the runtimes' sealed state, the logs.
    #[arg(long, default_value_os_t = default_devnet_dir())]
    data_dir: PathBuf,
    /// Delete the data dir (chain, runtimes, logs) and start a new network.
    #[arg(long)]
    reset: bool,
    /// Port of the REST API on 127.0.0.1; gatekeepers and workers listen on the next ones (0: any
    /// free ports). Default: 9933 for a new devnet, the port it was created with afterwards.
    #[arg(long, value_name = "PORT")]
    api_port: Option<u16>,
    /// How many workers to run (software mode); they form cluster 1.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=16))]
    workers: u8,
    /// Run the validator alone: no gatekeepers, workers or relayers.
    #[arg(long)]
    validator_only: bool,
    #[command(flatten)]
    local: LocalArgs,
}

pub(crate) fn default_devnet_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from(".veil/devnet"), |home| PathBuf::from(home).join(".veil/devnet"))
}

/// Runs the devnet until the process is stopped.
pub(crate) fn devnet(args: DevnetArgs, output: OutputFormat) -> Result<(), CommandError> {
    let clock = Instant::now();
    // Found before anything is written, so a missing binary leaves no half-made devnet behind.
    let programs = if args.validator_only { None } else { Some(Programs::locate()?) };
    let api_port = args.api_port.unwrap_or(DEFAULT_API_PORT);
    let config = testnet::devnet(&args.data_dir, args.reset, api_port, &args.local.options())
        .map_err(CommandError::bad_input)?;
    let mut loaded = NodeConfig::load(&config).map_err(CommandError::bad_input)?;
    if let Some(port) = args.api_port {
        loaded.config.api_listen.set_port(port);
    }
    // The terminal shows the devnet's progress; the validator's own lines go to its log.
    let logs_dir = args.data_dir.join("logs");
    std::fs::create_dir_all(&logs_dir).map_err(|e| CommandError::BadInput(format!("{}: {e}", logs_dir.display())))?;
    let logs = run::Logs::File(logs_dir.join("validator.log"));
    let Some(programs) = programs else {
        let announce = announce(output, "Veil devnet (1 validator, data in the --data-dir)");
        let data_dir = args.data_dir.clone();
        let on_start = move |started: Started| {
            let record = DevnetRecord {
                rest_api: format!("http://{}", started.api),
                height: started.height,
                gatekeepers: Vec::new(),
                workers: Vec::new(),
                cluster: None,
                accounts: Vec::new(),
                data_dir: None,
                insecure: true,
                ready_after_ms: None,
                first_block_after_ms: None,
            };
            write_record(&data_dir, &record);
            announce(started);
        };
        return run::run(loaded, logs, on_start).map_err(CommandError::bad_input);
    };
    let devnet = Devnet::plan(&args, &loaded, programs, output, clock)?;
    run::run(loaded, logs, move |started| devnet.start(started)).map_err(CommandError::bad_input)
}

/// The executables the devnet starts.
struct Programs {
    /// This `veil`, which runs the relayers.
    veil: PathBuf,
    worker: PathBuf,
}

impl Programs {
    /// `veil-worker` next to this `veil`, or where `VEIL_WORKER_BIN` says.
    fn locate() -> Result<Self, CommandError> {
        let veil = std::env::current_exe()
            .map_err(|e| CommandError::BadInput(format!("cannot find the running veil executable: {e}")))?;
        let (worker, place) = match std::env::var_os("VEIL_WORKER_BIN") {
            Some(path) => (PathBuf::from(&path), format!("at {} (VEIL_WORKER_BIN)", Path::new(&path).display())),
            None => (veil.with_file_name("veil-worker"), format!("next to {}", veil.display())),
        };
        if !worker.is_file() {
            return Err(CommandError::BadInput(format!(
                "veil-worker not found {place}: build it with cargo build --release -p veil-worker \
                 (or set VEIL_WORKER_BIN)"
            )));
        }
        Ok(Self { veil, worker })
    }
}

/// A development account funded at genesis.
/// What `veil devnet` records in `devnet.json` under its data directory (and prints with
/// `--output json` once it is ready): how to reach the network it runs. The other commands read it
/// to find the devnet's node and workers. A validator-only devnet records its API and height, with
/// no runtimes, accounts or timings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevnetRecord {
    /// The validator's REST API.
    pub rest_api: String,
    /// The finalized height when it was ready.
    pub height: u64,
    /// The development gatekeepers.
    #[serde(default)]
    pub gatekeepers: Vec<DevnetRuntime>,
    /// The workers.
    #[serde(default)]
    pub workers: Vec<DevnetRuntime>,
    /// The cluster its workers form, if any.
    #[serde(default)]
    pub cluster: Option<u32>,
    /// The funded development accounts.
    #[serde(default)]
    pub accounts: Vec<DevAccount>,
    /// Its data directory.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Always true: a devnet's runtimes run without a TEE.
    #[serde(default)]
    pub insecure: bool,
    /// How long it took to be ready.
    #[serde(default)]
    pub ready_after_ms: Option<u64>,
    /// How long until the first finalized block.
    #[serde(default)]
    pub first_block_after_ms: Option<u64>,
}

/// A runtime of a devnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevnetRuntime {
    /// `gatekeeper-<i>` or `worker-<j>`.
    pub name: String,
    /// Its API.
    pub url: String,
    /// Its identity key, `0x` hex.
    pub identity: String,
}

/// A funded development account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevAccount {
    /// Its secret URI (`//Alice`).
    pub uri: String,
    /// Its SS58 address.
    pub address: String,
    /// Its balance in tokens.
    pub balance: String,
}

/// One runtime of the devnet.
struct RuntimeProcess {
    /// `gatekeeper-<i>` or `worker-<j>`: its data dir under `runtimes/` and its log under `logs/`.
    name: String,
    /// Development gatekeeper i, or a worker.
    gatekeeper: Option<u8>,
    port: u16,
}

impl RuntimeProcess {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn client(&self) -> Result<Worker, String> {
        Worker::new(&self.url()).map_err(|_| format!("{}: bad URL {}", self.name, self.url()))
    }

    /// Its relayer's name.
    fn relay(&self) -> String {
        format!("relay-{}", self.name)
    }
}

/// A runtime serving its API.
struct Serving {
    runtime: RuntimeProcess,
    /// Its identity key, `0x` hex, as its status shows it.
    identity: String,
}

/// What the devnet runs, decided before the validator starts.
struct Devnet {
    output: OutputFormat,
    /// When `veil devnet` started: every reported time counts from here.
    clock: Instant,
    data_dir: PathBuf,
    programs: Programs,
    /// The development gatekeepers genesis names.
    gatekeepers: Vec<u8>,
    workers: u8,
    /// The runtimes' ports when the API port is fixed; `None`: free ports, picked at start.
    fixed_ports: Option<Vec<u16>>,
    accounts: Vec<DevAccount>,
}

/// The network, ready.
struct Ready {
    api: String,
    height: u64,
    runtimes: Vec<Serving>,
    /// Whether cluster 1 exists (not when there are no workers).
    cluster: bool,
    first_block: Duration,
}

impl Devnet {
    fn plan(
        args: &DevnetArgs,
        loaded: &Loaded,
        programs: Programs,
        output: OutputFormat,
        clock: Instant,
    ) -> Result<Self, CommandError> {
        if !loaded.genesis.allow_insecure_workers {
            return Err(CommandError::BadInput(
                "this devnet accepts only hardware-attested workers, so it cannot run its software runtimes: \
                 add --validator-only"
                    .into(),
            ));
        }
        let gatekeepers = dev_gatekeepers(loaded);
        let count = gatekeepers.len() + usize::from(args.workers);
        let fixed_ports = match loaded.config.api_listen.port() {
            0 => None,
            api => Some(ports_after(api, count)?),
        };
        let data_dir = std::path::absolute(&args.data_dir).map_err(CommandError::bad_input)?;
        let accounts = dev_accounts(loaded);
        Ok(Self { output, clock, data_dir, programs, gatekeepers, workers: args.workers, fixed_ports, accounts })
    }

    /// Brings the network up beside the validator, whose `run::run` keeps the calling thread.
    fn start(self, started: Started) {
        let spawned = std::thread::Builder::new().name("devnet".into()).spawn(move || self.run(started));
        if let Err(error) = spawned {
            abort(&format!("cannot start the devnet's thread: {error}"));
        }
    }

    fn run(self, started: Started) {
        let mut children = Children { list: Vec::new() };
        match self.bring_up(started, &mut children) {
            Ok(ready) => {
                self.announce(&ready);
                children.supervise();
            }
            Err(message) => {
                children.stop();
                abort(&message);
            }
        }
    }

    fn bring_up(&self, started: Started, children: &mut Children) -> Result<Ready, String> {
        let api = format!("http://{}", started.api);
        self.progress(format_args!("validator: REST API {api} (height {})", started.height));
        let node = NodeApi::new(&api).map_err(|_| format!("the validator's API is not at {api}"))?;
        let logs = self.data_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let runtimes = self.runtimes()?;
        for runtime in &runtimes {
            children.spawn(&runtime.name, self.runtime_command(runtime), &self.log(&runtime.name))?;
        }

        let height = children.poll("the first finalized block", &"the validator's log lines above", || {
            Ok(finalized_height(&node).filter(|&height| height > started.height))
        })?;
        let first_block = self.clock.elapsed();
        self.progress(format_args!("first finalized block: height {height}"));

        let mut serving = Vec::new();
        for runtime in runtimes {
            let log = self.log(&runtime.name);
            let worker = runtime.client()?;
            let what = format!("{} to serve its API", runtime.name);
            let identity =
                children.poll(&what, &log.display(), || Ok(worker.status().ok().map(|status| status.identity)))?;
            self.progress(format_args!("{}: {} (identity {identity})", runtime.name, runtime.url()));
            children.spawn(&runtime.relay(), self.relay_command(&api, &runtime), &self.log(&runtime.relay()))?;
            serving.push(Serving { runtime, identity });
        }

        for runtime in &serving {
            let what = format!("{} to be registered on chain", runtime.runtime.name);
            let log = self.log(&runtime.runtime.relay());
            let identity = identity_bytes(&runtime.identity)?;
            children.poll(&what, &log.display(), || Ok(node.worker(&identity).ok()))?;
        }
        let names: Vec<&str> = serving.iter().map(|s| s.runtime.name.as_str()).collect();
        self.progress(format_args!("registered on chain for {OPERATOR}: {}", names.join(", ")));

        let workers: Vec<&Serving> = serving.iter().filter(|s| s.runtime.gatekeeper.is_none()).collect();
        if !workers.is_empty() {
            self.cluster_up(&node, &workers, children)?;
        }
        let height = finalized_height(&node).unwrap_or(height);
        Ok(Ready { api, height, cluster: !workers.is_empty(), runtimes: serving, first_block })
    }

    /// Forms cluster 1 of `workers` (unless an earlier run did) and waits until its key is published
    /// and its members know they are in it.
    fn cluster_up(&self, node: &NodeApi, workers: &[&Serving], children: &mut Children) -> Result<(), String> {
        let gatekeeper_log = self.log("gatekeeper-0");
        let cluster = ClusterId(CLUSTER);
        let names =
            |members: &[&Serving]| members.iter().map(|s| s.runtime.name.as_str()).collect::<Vec<_>>().join(", ");
        if node.cluster(cluster).is_ok() {
            self.progress(format_args!("cluster {CLUSTER}: formed in an earlier run"));
        } else {
            let admin = AccountPair::from_suri(REGISTRY_ADMIN, None).map_err(|e| format!("{REGISTRY_ADMIN}: {e}"))?;
            let identities = workers.iter().map(|s| identity_bytes(&s.identity)).collect::<Result<Vec<_>, _>>()?;
            let members = identities.try_into().map_err(|_| "too many workers for one cluster".to_owned())?;
            let call = Call::Contracts(ContractsCall::FormCluster { cluster, workers: members });
            // The chain refuses a cluster until the first key epoch is open and every member
            // announced its epoch keys: the refusal says "epoch" until then.
            children.poll(
                "the first key epoch and the workers' epoch keys",
                &gatekeeper_log.display(),
                || match node.sign_and_submit(&admin, call.clone()) {
                    Ok(_) => Ok(Some(())),
                    Err(ClientError::Refused { message, .. }) if message.contains("epoch") => Ok(None),
                    Err(error) => Err(format!("the chain refused FormCluster: {error}")),
                },
            )?;
            self.progress(format_args!("first key epoch open; cluster {CLUSTER} formed of {}", names(workers)));
        }
        let view = children.poll(&format!("cluster {CLUSTER}'s key"), &gatekeeper_log.display(), || {
            Ok(node.cluster(cluster).ok().filter(|view| view.agreement.is_some()))
        })?;
        let in_cluster: Vec<&Serving> =
            workers.iter().copied().filter(|s| view.workers.iter().any(|member| member.worker == s.identity)).collect();
        for member in &in_cluster {
            let worker = member.runtime.client()?;
            let log = self.log(&member.runtime.relay());
            children.poll(&format!("{} to join cluster {CLUSTER}", member.runtime.name), &log.display(), || {
                let status = worker.status().ok();
                Ok(status.filter(|status| status.cluster.is_some_and(|membership| membership.cluster == CLUSTER)))
            })?;
        }
        self.progress(format_args!("cluster {CLUSTER}: key published; members {}", names(&in_cluster)));
        Ok(())
    }

    /// The runtimes in start order, with their ports.
    fn runtimes(&self) -> Result<Vec<RuntimeProcess>, String> {
        let count = self.gatekeepers.len() + usize::from(self.workers);
        let ports = match &self.fixed_ports {
            Some(ports) => ports.clone(),
            None => free_ports(count)?,
        };
        let gatekeepers = self.gatekeepers.iter().map(|&i| (format!("gatekeeper-{i}"), Some(i)));
        let workers = (1..=self.workers).map(|j| (format!("worker-{j}"), None));
        Ok(gatekeepers
            .chain(workers)
            .zip(ports)
            .map(|((name, gatekeeper), port)| RuntimeProcess { name, gatekeeper, port })
            .collect())
    }

    fn log(&self, name: &str) -> PathBuf {
        self.data_dir.join("logs").join(format!("{name}.log"))
    }

    fn runtime_command(&self, runtime: &RuntimeProcess) -> Command {
        let mut command = Command::new(&self.programs.worker);
        command
            .arg("--genesis")
            .arg(self.data_dir.join("genesis.toml"))
            .arg("--data-dir")
            .arg(self.data_dir.join("runtimes").join(&runtime.name))
            .args(["--listen", &format!("127.0.0.1:{}", runtime.port), "--platform", "software", "--exit-with-stdin"])
            // The relayer registers it for this account; the runtime quotes for no other.
            .args(["--operator", &operator_address()]);
        if let Some(index) = runtime.gatekeeper {
            command.args(["--role", "gatekeeper", "--dev-gatekeeper", &index.to_string()]);
        }
        command
    }

    fn relay_command(&self, api: &str, runtime: &RuntimeProcess) -> Command {
        let mut command = Command::new(&self.programs.veil);
        command.args(["relay", "--node", api, "--worker", &runtime.url(), "--operator", OPERATOR]);
        command.args(["--interval-ms", RELAY_INTERVAL_MS, "--exit-with-stdin"]);
        command
    }

    /// A progress line, stamped with the time since start (text output only).
    fn progress(&self, line: std::fmt::Arguments<'_>) {
        if self.output == OutputFormat::Text {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "[{:>5.1}s] {line}", self.clock.elapsed().as_secs_f64());
            let _ = stdout.flush();
        }
    }

    /// Records the network in the data dir, then prints the summary and `devnet ready` (or the
    /// one JSON object).
    fn announce(&self, ready: &Ready) {
        let elapsed = self.clock.elapsed();
        let record = self.record(ready, elapsed);
        write_record(&self.data_dir, &record);
        let text = match self.output {
            OutputFormat::Json => serde_json::to_string(&record).unwrap_or_default(),
            OutputFormat::Text => self.summary(ready, elapsed),
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    fn record(&self, ready: &Ready, elapsed: Duration) -> DevnetRecord {
        let runtimes = |gatekeepers: bool| -> Vec<DevnetRuntime> {
            ready
                .runtimes
                .iter()
                .filter(|s| s.runtime.gatekeeper.is_some() == gatekeepers)
                .map(|s| DevnetRuntime {
                    name: s.runtime.name.clone(),
                    url: s.runtime.url(),
                    identity: s.identity.clone(),
                })
                .collect()
        };
        DevnetRecord {
            rest_api: ready.api.clone(),
            height: ready.height,
            gatekeepers: runtimes(true),
            workers: runtimes(false),
            cluster: ready.cluster.then_some(CLUSTER),
            accounts: self.accounts.clone(),
            data_dir: Some(self.data_dir.clone()),
            insecure: true,
            ready_after_ms: Some(millis(elapsed)),
            first_block_after_ms: Some(millis(ready.first_block)),
        }
    }

    fn summary(&self, ready: &Ready, elapsed: Duration) -> String {
        let rule = "=".repeat(96);
        let api = &ready.api;
        let mut lines = vec![
            rule.clone(),
            "  INSECURE: software mode, no TEE. Anyone with access to this machine can read the runtimes' keys".into(),
            "  and confidential state. For development only: never put anything of value on this network.".into(),
            rule,
            format!("REST API: {api}  (described at {api}/openapi.json; finalized height {})", ready.height),
        ];
        for serving in &ready.runtimes {
            let role = if serving.runtime.gatekeeper.is_some() { "gatekeeper" } else { "worker" };
            let member = if ready.cluster && role == "worker" { "  (cluster 1)" } else { "" };
            lines.push(format!("{role:<10}  {:<12}  {}{member}", serving.runtime.name, serving.runtime.url()));
        }
        lines.push("Funded development accounts (genesis balances; their secret URIs are public):".into());
        for account in &self.accounts {
            lines.push(format!("  {:<9} {}  {}", account.uri, account.address, account.balance));
        }
        lines.push(format!("Data: {} (each process's log in logs/)", self.data_dir.display()));
        if self.data_dir != default_devnet_dir() {
            lines.push(format!("Other commands find this devnet with: export VEIL_DEVNET={}", self.data_dir.display()));
        }
        lines.push(format!(
            "First finalized block after {:.1} s, workers ready after {:.1} s.",
            ready.first_block.as_secs_f64(),
            elapsed.as_secs_f64()
        ));
        lines.push("Try:".into());
        for command in [
            "veil account balance //Alice",
            "veil account transfer --from //Alice --to //Bob 10",
            "veil worker list",
            "then follow docs/quickstart.md",
        ] {
            lines.push(format!("  {command}"));
        }
        lines.push(format!("[{:>5.1}s] devnet ready. Ctrl-C stops everything.", elapsed.as_secs_f64()));
        lines.join("\n")
    }
}

/// The devnet's child processes. Each holds the write end of its child's standard input, so the
/// children live exactly as long as this process keeps them.
struct Children {
    list: Vec<Supervised>,
}

struct Supervised {
    name: String,
    log: PathBuf,
    process: Child,
    exited: bool,
}

impl Children {
    /// Starts `command` as `name`, its output appended to `log`.
    fn spawn(&mut self, name: &str, mut command: Command, log: &Path) -> Result<(), String> {
        let file =
            OpenOptions::new().create(true).append(true).open(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let stdout = file.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
        let process = command
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", Path::new(command.get_program()).display()))?;
        self.list.push(Supervised { name: name.to_owned(), log: log.to_owned(), process, exited: false });
        Ok(())
    }

    /// A child that exited since the last look, as one line naming its log.
    fn newly_exited(&mut self) -> Option<String> {
        self.list.iter_mut().filter(|child| !child.exited).find_map(|child| {
            let status = child.process.try_wait().ok().flatten()?;
            child.exited = true;
            Some(format!("{} exited ({status}): see {}", child.name, child.log.display()))
        })
    }

    /// Polls `probe` until it yields a value. Fails, naming `log`, if it errs, if `what` takes longer
    /// than a stage may, or as soon as a child exits.
    fn poll<T>(
        &mut self,
        what: &str,
        log: &dyn std::fmt::Display,
        mut probe: impl FnMut() -> Result<Option<T>, String>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + STAGE_TIMEOUT;
        loop {
            if let Some(value) = probe().map_err(|error| format!("{error} (see {log})"))? {
                return Ok(value);
            }
            if let Some(exit) = self.newly_exited() {
                return Err(format!("{exit} (while waiting for {what})"));
            }
            if Instant::now() >= deadline {
                return Err(format!("timed out after {} s waiting for {what}: see {log}", STAGE_TIMEOUT.as_secs()));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Reports each child that exits; the devnet runs on without it. Returns when none is left.
    fn supervise(mut self) {
        while self.list.iter().any(|child| !child.exited) {
            std::thread::sleep(Duration::from_secs(1));
            while let Some(exit) = self.newly_exited() {
                let _ = writeln!(std::io::stderr().lock(), "warning: {exit}; the devnet runs on without it");
            }
        }
    }

    fn stop(&mut self) {
        for child in &mut self.list {
            let _ = child.process.kill();
            let _ = child.process.wait();
        }
    }
}

/// Writes `network` to `<data-dir>/devnet.json`, where the other commands (`veil account`,
/// `veil worker`, ...) find the devnet's URLs. Written whole and then renamed, so that a reader
/// never sees half of it.
fn write_record(data_dir: &Path, record: &DevnetRecord) {
    let (path, partial) = (data_dir.join(DEVNET_FILE), data_dir.join(format!("{DEVNET_FILE}.partial")));
    let written = std::fs::write(&partial, serde_json::to_vec(record).unwrap_or_default())
        .and_then(|()| std::fs::rename(&partial, &path));
    if let Err(error) = written {
        let _ = writeln!(std::io::stderr().lock(), "warning: {}: {error}", path.display());
    }
}

/// Ends the whole process with one error line: the validator would otherwise run on alone.
fn abort(message: &str) -> ! {
    let _ = std::io::stdout().lock().flush();
    let _ = writeln!(std::io::stderr().lock(), "error: {message}");
    std::process::exit(1)
}

fn finalized_height(node: &NodeApi) -> Option<u64> {
    node.chain().ok().map(|chain| chain.finalized_height)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn identity_bytes(identity: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(identity.trim_start_matches("0x")).map_err(|e| format!("identity {identity}: {e}"))?;
    bytes.try_into().map_err(|_| format!("identity {identity} is not 32 bytes"))
}

/// The development gatekeepers genesis names, in order (local networks name 0, 1, ...).
fn dev_gatekeepers(loaded: &Loaded) -> Vec<u8> {
    let named = |index: &u8| {
        let identity = RuntimeSigner::from_seed(&dev_gatekeeper_seed_at(*index)).public();
        loaded.genesis.senders.iter().any(|sender| sender.sender == SenderId::Gatekeeper(identity))
    };
    (0..=u8::MAX).take_while(named).collect()
}

/// The development accounts genesis funds, with their genesis balances.
fn dev_accounts(loaded: &Loaded) -> Vec<DevAccount> {
    DEV_ACCOUNTS
        .iter()
        .filter_map(|&uri| {
            let account = AccountPair::from_suri(uri, None).ok()?.public();
            let funded = loaded.genesis.balances.iter().find(|balance| balance.account == account)?;
            Some(DevAccount { uri: uri.to_owned(), address: account.to_string(), balance: funded.amount.to_string() })
        })
        .collect()
}

/// The `count` ports after `api`, checked free together with `api` itself.
fn ports_after(api: u16, count: usize) -> Result<Vec<u16>, CommandError> {
    let mut ports = Vec::with_capacity(count);
    for offset in 0..=count {
        let port = u16::try_from(offset).ok().and_then(|offset| api.checked_add(offset)).ok_or_else(|| {
            CommandError::BadInput(format!("--api-port {api} leaves no room for {count} runtimes after it"))
        })?;
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|error| {
            CommandError::BadInput(format!(
                "port {port} on 127.0.0.1: {} (is another devnet running?); choose other ports with --api-port",
                error.kind()
            ))
        })?;
        if offset > 0 {
            ports.push(port);
        }
    }
    Ok(ports)
}

/// `count` free ports on loopback that stay free for the runtimes' restarts (see
/// [`testnet::free_port_block`]).
fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    let count = u16::try_from(count).map_err(|_| format!("{count} runtimes are more than ports"))?;
    let base = testnet::free_port_block(count).map_err(|e| e.to_string())?;
    Ok((base..base + count).collect())
}

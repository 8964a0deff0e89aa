//! Real `veil` processes on loopback, and a minimal HTTP client to talk to them: answers are read
//! as the typed shapes of `veil-api` (the error answers as its `ErrorBody`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::print_stderr)]

use parity_scale_codec::Encode as _;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use veil_cli::DevnetRecord;
use veil_client::{
    Worker,
    api::{
        ErrorBody,
        node::{
            AccountView, BlockView, CertifiedBlock, ChainInfo, ClusterView, ContractView, SubmitRequest,
            SubmitResponse, TopicMessagesView, TransactionStatusView, WorkerView,
        },
        paths,
        worker::RuntimeStatus,
    },
};
use veil_crypto::AccountPair;
use veil_primitives::{
    AccountId, AccountsCall, Balance, Call, ContractsCall, Hash, Message, SignedTransaction, Topic, Transaction,
    decode_strict,
};

/// The `veil-worker` binary next to `veil`, brought up to date once per test process (it is
/// another package's binary, which `cargo test -p veil-cli` alone neither builds nor rebuilds: a
/// test would otherwise run a stale runtime), in the profile `veil` was built in (benchmarks run
/// release builds). When the workspace was just built, this is a no-op check.
pub fn worker_binary() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let path = Path::new(env!("CARGO_BIN_EXE_veil")).with_file_name("veil-worker");
    BUILT.call_once(|| {
        let release = path.parent().is_some_and(|dir| dir.ends_with("release"));
        let status = Command::new(env!("CARGO"))
            .args(["build", "--locked", "--quiet", "-p", "veil-worker", "--bin", "veil-worker"])
            .args(release.then_some("--release"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cannot build veil-worker");
    });
    path
}

/// A running `veil` process, killed (SIGKILL) when dropped.
pub struct Process {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
    /// Where this process's output starts in `log`.
    log_start: usize,
}

impl Process {
    /// Starts `veil ARGS`, logging to `log`, and waits for its "REST API: URL" line.
    pub fn start(args: &[&str], log: &Path) -> Process {
        Self::start_program(Path::new(env!("CARGO_BIN_EXE_veil")), args, &[], log, Some("REST API: "))
    }

    /// Starts `veil ARGS`, logging to `log`, and waits until its output has `ready`. Its URL is the
    /// one after "REST API: " (text output) or in `rest_api` (`--output json`).
    pub fn start_until(args: &[&str], log: &Path, ready: &str) -> Process {
        let mut process = Self::start_program(Path::new(env!("CARGO_BIN_EXE_veil")), args, &[], log, None);
        process.wait_output(ready);
        process.url = match process.output().split_once("REST API: ") {
            Some((_, rest)) => rest.split_whitespace().next().unwrap().to_owned(),
            None => process.ready_json().rest_api,
        };
        process
    }

    /// Starts `veil-worker ARGS` with environment `env`, and waits for its "listening on URL" line.
    pub fn start_worker(args: &[&str], env: &[(&str, &str)], log: &Path) -> Process {
        Self::start_program(&worker_binary(), args, env, log, Some("listening on "))
    }

    /// Starts `program ARGS`, logging to `log`; with a `marker`, waits for the line that has it and
    /// takes the URL after it.
    pub fn start_program(
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: &Path,
        marker: Option<&str>,
    ) -> Process {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let log_start = file.metadata().unwrap().len() as usize;
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        // Owned by `Process` at once, so a failed start still kills it.
        let mut process = Process { child, url: String::new(), log: log.to_owned(), log_start };
        if let Some(marker) = marker {
            process.url = process.wait_output(marker);
        }
        process
    }

    /// What the process wrote since it started.
    pub fn output(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.get(self.log_start..).unwrap_or_default().to_owned()
    }

    /// Waits until the process's output has `marker`; returns the word after it.
    pub fn wait_output(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = self.output();
            if let Some(at) = text.find(marker) {
                return text[at + marker.len()..].split_whitespace().next().unwrap_or_default().to_owned();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}) before printing {marker:?}:\n{text}", self.log.display());
            }
            assert!(Instant::now() < deadline, "{} did not print {marker:?}:\n{text}", self.log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The one JSON object `veil devnet --output json` prints when it is ready.
    pub fn ready_json(&self) -> DevnetRecord {
        let output = self.output();
        let line = output.lines().find(|line| line.starts_with('{') && line.contains("\"ready_after_ms\""));
        serde_json::from_str(line.unwrap_or_else(|| panic!("no ready object in:\n{output}"))).unwrap()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `GET path`, the body as it came (JSON, or a JSON string when it is not JSON): for answers
    /// that are not API objects (metrics) and for status checks alone.
    pub fn get(&self, path: &str) -> (u16, Value) {
        http(&self.url, "GET", path, None)
    }

    /// `POST path` with any JSON body (malformed requests too); the body as it came.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        http(&self.url, "POST", path, Some(&body.to_string()))
    }

    /// `GET path`: the status, and the answer as a `T` (2xx) or the error answer.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> Answer<T> {
        http_as(&self.url, "GET", path, None)
    }

    /// `POST path` with the JSON of `body` (any shape: malformed requests too): the status, and the
    /// answer as a `T` (2xx) or the error answer.
    pub fn post_as<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Answer<T> {
        http_as(&self.url, "POST", path, Some(&serde_json::to_string(body).unwrap()))
    }

    /// `GET path`, which must answer 200: the answer.
    pub fn get_ok<T: DeserializeOwned + std::fmt::Debug>(&self, path: &str) -> T {
        let (status, body) = self.get_as(path);
        assert_eq!(status, 200, "{path} at {}: {body:?}", self.url);
        body.unwrap()
    }

    /// `GET path`, which must be refused: the status and the error answer.
    pub fn get_error(&self, path: &str) -> (u16, ErrorBody) {
        let (status, body) = self.get_as::<serde::de::IgnoredAny>(path);
        match body {
            Err(error) => (status, error),
            Ok(_) => panic!("{path} at {} answered {status}, not an error", self.url),
        }
    }

    /// The chain's identity, newest finalized height and issuance.
    pub fn chain(&self) -> ChainInfo {
        self.get_ok(paths::node::CHAIN)
    }

    pub fn height(&self) -> u64 {
        self.chain().finalized_height
    }

    pub fn chain_id(&self) -> Hash {
        self.chain().chain_id.parse().unwrap()
    }

    pub fn account(&self, account: &AccountId) -> (u64, u128) {
        let view: AccountView = self.get_ok(&paths::node::account(account));
        (view.nonce, view.balance_units.parse().unwrap())
    }

    pub fn submit(&self, tx: &SignedTransaction) -> Answer<SubmitResponse> {
        let body = SubmitRequest { transaction: format!("0x{}", hex::encode(tx.encode())) };
        self.post_as(paths::node::TRANSACTIONS, &body)
    }

    /// A light client pinning only the network key and namespace this node reports.
    pub fn light_client(&self) -> veil_light_client::LightClient {
        let chain = self.chain();
        let key: [u8; 96] = unhex(&chain.network_key).try_into().unwrap();
        veil_light_client::LightClient::new(&key, &chain.namespace).unwrap()
    }

    /// Polls `path` until it answers 200 with a `T` for which `done` holds; returns that answer.
    pub fn wait_for<T: DeserializeOwned + std::fmt::Debug>(
        &self,
        path: &str,
        timeout: Duration,
        done: impl Fn(&T) -> bool,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get_as::<T>(path);
            match body {
                Ok(body) if status == 200 && done(&body) => return body,
                body => assert!(Instant::now() < deadline, "{path} at {}: still {status} {body:?}", self.url),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fetches the latest certified block and checks it with a light client that pins only the
    /// network key and namespace this node reports. Returns the certified height.
    pub fn verify_latest_certificate(&self) -> u64 {
        let client = self.light_client();
        let latest: CertifiedBlock = self.get_ok(paths::node::LATEST_BLOCK);
        let certificate = unhex(&latest.finalization);
        let block: veil_primitives::Block = veil_primitives::decode_strict(&unhex(&latest.block.encoded)).unwrap();
        let finalized = client.verify_header(&certificate, &block.header).unwrap();
        assert_eq!(finalized.block.to_string(), latest.block.hash);
        // The same certificate does not certify the parent.
        let parent: BlockView = self.get_ok(&paths::node::block(block.header.height - 1));
        let parent: veil_primitives::Block = veil_primitives::decode_strict(&unhex(&parent.encoded)).unwrap();
        assert!(client.verify_header(&certificate, &parent.header).is_err());
        block.header.height
    }

    /// Waits until `hash` is finalized here; returns its height.
    pub fn wait_finalized(&self, hash: &Hash, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get_as::<TransactionStatusView>(&paths::node::transaction(hash));
            if let Ok(view) = &body
                && status == 200
                && view.status == "finalized"
            {
                return view.height.unwrap();
            }
            assert!(Instant::now() < deadline, "{hash} not finalized at {}: {status} {body:?}", self.url);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An answer of the API: its HTTP status, and its body as a `T` (2xx) or as the error answer.
pub type Answer<T> = (u16, Result<T, ErrorBody>);

/// One HTTP/1.1 request with `Connection: close`; returns the status and the JSON body (or the
/// body as a JSON string when it is not JSON).
pub fn http(url: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, content) = http_text(url, method, path, body);
    (status, serde_json::from_str(&content).unwrap_or(Value::String(content)))
}

/// [`http`], the answer read as a `T` when it is a success (2xx) and as an [`ErrorBody`] when not;
/// an answer that is neither fails the test.
pub fn http_as<T: DeserializeOwned>(url: &str, method: &str, path: &str, body: Option<&str>) -> Answer<T> {
    let (status, content) = http_text(url, method, path, body);
    let answer = if (200..300).contains(&status) {
        Ok(serde_json::from_str(&content)
            .unwrap_or_else(|e| panic!("{method} {path} at {url}: {status} {content:?} is not the answer: {e}")))
    } else {
        Err(serde_json::from_str(&content)
            .unwrap_or_else(|e| panic!("{method} {path} at {url}: {status} {content:?} is not an error answer: {e}")))
    };
    (status, answer)
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the body.
pub fn http_text(url: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let authority = url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status: u16 = response.split(' ').nth(1).unwrap().parse().unwrap();
    let content = response.split_once("\r\n\r\n").map(|(_, c)| c).unwrap_or("");
    (status, content.to_owned())
}

/// Reads Server-Sent Events from `path` until `count` events named `name` arrived; returns their data.
pub fn sse<T: DeserializeOwned>(url: &str, path: &str, name: &str, count: usize) -> Vec<T> {
    let authority = url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut events = Vec::new();
    let mut current = None;
    let mut line = String::new();
    while events.len() < count {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "stream ended");
        let line = line.trim_end();
        if let Some(event) = line.strip_prefix("event: ") {
            current = Some(event.to_owned());
        } else if let Some(data) = line.strip_prefix("data: ")
            && current.as_deref() == Some(name)
        {
            events.push(serde_json::from_str(data).unwrap());
        }
    }
    events
}

/// Every process descended from `pid` (its children, theirs, ...), found in /proc.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (command) state ppid ...": the command may hold spaces and parentheses.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let (mut found, mut next) = (Vec::new(), vec![pid]);
    while let Some(parent) = next.pop() {
        for &(child, _) in parents.iter().filter(|(_, ppid)| *ppid == parent) {
            found.push(child);
            next.push(child);
        }
    }
    found
}

/// Whether process `pid` runs (a zombie waiting to be reaped does not).
pub fn running(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').is_some_and(|(_, rest)| rest.split_whitespace().next() != Some("Z"))
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("veil-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The first of `count` consecutive ports on 127.0.0.1 that are all free right now, below the
/// ephemeral range so that a restarted process gets its port back.
pub fn free_ports(count: u16) -> u16 {
    veil_node::testnet::free_port_block(count).unwrap()
}

/// `0x` hex to bytes.
pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.strip_prefix("0x").unwrap_or_else(|| panic!("{text:?} is not 0x hex"))).unwrap()
}

pub fn pair(uri: &str) -> AccountPair {
    AccountPair::from_suri(uri, None).unwrap()
}

pub fn transfer(chain: Hash, from: &AccountPair, nonce: u64, to: AccountId, tokens: u128) -> SignedTransaction {
    from.sign_transaction(Transaction {
        genesis: chain,
        signer: from.public(),
        nonce,
        call: Call::Accounts(AccountsCall::Transfer { to, amount: Balance(tokens * Balance::ONE.0) }),
    })
}

/// Polls `done` every 100 ms until it holds; panics after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `/v1/status` of the runtime at `url`.
pub fn status_at(url: &str) -> RuntimeStatus {
    Worker::new(url).unwrap().status().unwrap()
}

/// A worker's `/v1/status`.
pub fn status(worker: &Process) -> RuntimeStatus {
    status_at(&worker.url)
}

/// A runtime's identity key, from its status.
pub fn identity(worker: &Process) -> [u8; 32] {
    Worker::identity(&status(worker)).unwrap()
}

/// Starts a validator-only devnet with its data in `dir/node` and its log in `dir/node.log`; the
/// node, and its genesis file.
pub fn start_validator(dir: &Path) -> (Process, PathBuf) {
    let data = dir.join("node");
    let args = ["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0", "--validator-only"];
    let node = Process::start(&args, &dir.join("node.log"));
    (node, data.join("genesis.toml"))
}

/// Starts `veil-worker` named `name` on loopback, with its data in `dir/name` and log in `dir/name.log`.
pub fn start_worker(dir: &Path, name: &str, genesis: &Path, extra: &[&str], env: &[(&str, &str)]) -> Process {
    let data = dir.join(name);
    let mut args = vec![
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--max-age-secs",
        "60",
    ];
    // Registered by `//Bob` unless the test names another operator.
    let bob = pair("//Bob").public().to_string();
    if !extra.contains(&"--operator") {
        args.extend(["--operator", &bob]);
    }
    args.extend_from_slice(extra);
    Process::start_worker(&args, env, &dir.join(format!("{name}.log")))
}

/// Starts `veil relay` between `node` and `worker` (registering the worker for `operator` if given).
pub fn relay(dir: &Path, name: &str, node: &Process, worker: &Process, operator: Option<&str>) -> Process {
    relay_with(dir, name, node, worker, operator, &[])
}

/// [`relay`] with more arguments.
pub fn relay_with(
    dir: &Path,
    name: &str,
    node: &Process,
    worker: &Process,
    operator: Option<&str>,
    extra: &[&str],
) -> Process {
    let mut args = vec!["relay", "--node", &node.url, "--worker", &worker.url, "--interval-ms", "100"];
    if let Some(operator) = operator {
        args.extend(["--operator", operator]);
    }
    args.extend_from_slice(extra);
    let veil = Path::new(env!("CARGO_BIN_EXE_veil"));
    Process::start_program(veil, &args, &[], &dir.join(format!("relay-{name}.log")), None)
}

/// Submits `call` from `from` with its next nonce and waits until it is finalized.
pub fn submit(node: &Process, from: &AccountPair, call: impl FnOnce(u64) -> Call) -> u64 {
    let (nonce, _) = node.account(&from.public());
    let tx = from.sign_transaction(Transaction {
        genesis: node.chain_id(),
        signer: from.public(),
        nonce,
        call: call(nonce),
    });
    let (status, body) = node.submit(&tx);
    assert_eq!(status, 202, "{body:?}");
    node.wait_finalized(&tx.hash(), Duration::from_secs(60))
}

/// Forms cluster `number` of `workers` as `//Alice` (the devnet's registry admin) once the first key
/// epoch is open and the workers have announced their epoch keys: the chain refuses the cluster
/// before that, so this retries until it is admitted, then waits until it is finalized.
pub fn form_cluster(node: &Process, number: u32, workers: &[[u8; 32]]) {
    form_cluster_as(node, &pair("//Alice"), number, workers);
}

/// [`form_cluster`] as the registry admin `alice`.
pub fn form_cluster_as(node: &Process, alice: &AccountPair, number: u32, workers: &[[u8; 32]]) {
    wait_until("the first epoch and the workers' epoch keys", Duration::from_secs(60), || {
        let (nonce, _) = node.account(&alice.public());
        let call = Call::Contracts(ContractsCall::FormCluster {
            cluster: veil_primitives::ClusterId(number),
            workers: workers.to_vec().try_into().unwrap(),
        });
        let tx = alice.sign_transaction(Transaction { genesis: node.chain_id(), signer: alice.public(), nonce, call });
        let (status, body) = node.submit(&tx);
        if status == 202 {
            node.wait_finalized(&tx.hash(), Duration::from_secs(60));
            return true;
        }
        let refusal = body.unwrap_err();
        assert!(refusal.message.contains("epoch"), "{refusal:?}");
        false
    });
}

/// A topic's messages so far (none when it does not exist yet), page after page.
pub fn topic_messages(node: &Process, topic: &Topic) -> Vec<Message> {
    let mut messages = Vec::new();
    loop {
        let path = paths::node::topic_messages(topic, messages.len() as u64, None);
        let (status, body) = node.get_as::<TopicMessagesView>(&path);
        if status == 404 {
            return messages;
        }
        assert_eq!(status, 200, "{body:?}");
        let page = body.unwrap();
        messages.extend(page.messages.iter().map(|m| decode_strict::<Message>(&unhex(m)).unwrap()));
        if messages.len() as u64 >= page.length {
            return messages;
        }
    }
}

/// Asks `worker` the query `payload` to `contract` as `by`, sealed to the worker's key from its
/// status; the answer is opened and verified against the worker's identity. `Err` is the HTTP
/// refusal: its status and error answer.
pub fn ask_worker(
    node: &Process,
    worker: &Process,
    by: &AccountPair,
    contract: veil_primitives::ContractId,
    payload: &[u8],
) -> Result<veil_crypto::confidential::Answer, (u16, ErrorBody)> {
    use veil_crypto::{
        AgreementSecret,
        confidential::{Query, open_answer, seal_query},
    };
    let status = status(worker);
    let identity = Worker::identity(&status).unwrap();
    let agreement: [u8; 32] = unhex(&status.agreement_key).try_into().unwrap();
    let response = AgreementSecret::generate().unwrap();
    let height = node.height();
    let nonce: [u8; 16] = AgreementSecret::generate().unwrap().public()[..16].try_into().unwrap();
    let signed = Query {
        chain: node.chain_id(),
        worker: identity,
        contract,
        requester: by.public(),
        nonce,
        known_height: height,
        valid_until: height + 100,
        response_key: response.public(),
        payload: payload.to_vec().try_into().unwrap(),
    }
    .sign(by);
    let body = seal_query(&agreement, &signed).unwrap();
    let authority = worker.url.strip_prefix("http://").unwrap();
    let (code, answer) =
        veil_http::request(authority, "POST", paths::worker::QUERY, "application/octet-stream", &body).unwrap();
    if code != 200 {
        return Err((code, serde_json::from_slice(&answer).unwrap()));
    }
    let answer = open_answer(&response, &signed.hash(), &identity, &answer).unwrap();
    assert!(answer.insecure, "a software worker says so in every answer");
    assert!(answer.height + 20 >= height, "answered at {} while the chain is at {height}", answer.height);
    Ok(answer)
}

/// A devnet for wasm contracts, all real processes on loopback: the node, development gatekeepers
/// and workers (software mode), each behind `veil relay`; the workers registered for `//Bob`, the
/// first ones in cluster 1, formed by `//Alice` (the devnet's registry admin), whose key the
/// gatekeepers published. Dropping it stops the relayers first.
pub struct ContractNetwork {
    /// The gatekeepers' relayers, then the workers'.
    pub relays: Vec<Process>,
    pub workers: Vec<Process>,
    pub gatekeepers: Vec<Process>,
    pub node: Process,
    /// Cluster 1's X25519 key: constructor arguments are sealed to it.
    pub cluster_key: [u8; 32],
    /// How many of the workers (the first ones) form cluster 1.
    pub cluster_size: usize,
}

/// How a [`ContractNetwork`] is laid out.
pub struct Layout<'a> {
    /// Development gatekeepers (genesis names as many).
    pub gatekeepers: u8,
    /// Workers.
    pub workers: usize,
    /// How many of the workers form cluster 1; the others stand by.
    pub cluster_size: usize,
    /// More `veil devnet` arguments.
    pub devnet: &'a [&'a str],
}

impl ContractNetwork {
    /// One gatekeeper and one worker, with everything under `dir` (the node's data in `dir/node`).
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &Layout { gatekeepers: 1, workers: 1, cluster_size: 1, devnet: &[] })
    }

    /// Starts `layout` with everything under `dir`. Every gatekeeper registers (for `//Bob`), so
    /// the others check its quote before they share a master key with it.
    pub fn start_with(dir: &Path, layout: &Layout<'_>) -> Self {
        let data = dir.join("node");
        let count = layout.gatekeepers.to_string();
        let mut args = vec!["devnet", "--data-dir", data.to_str().unwrap(), "--api-port", "0", "--gatekeepers", &count];
        // The runtimes here are started by hand, so that tests can stop, restart and replace them.
        args.push("--validator-only");
        args.extend_from_slice(layout.devnet);
        let node = Process::start(&args, &dir.join("node.log"));
        let genesis = data.join("genesis.toml");
        let mut relays = Vec::new();
        let gatekeepers: Vec<Process> = (0..layout.gatekeepers)
            .map(|index| {
                let (name, number) = (format!("gatekeeper{index}"), index.to_string());
                let gatekeeper =
                    start_worker(dir, &name, &genesis, &["--role", "gatekeeper", "--dev-gatekeeper", &number], &[]);
                relays.push(relay(dir, &name, &node, &gatekeeper, Some("//Bob")));
                gatekeeper
            })
            .collect();
        let workers: Vec<Process> = (0..layout.workers)
            .map(|index| {
                let name = format!("worker{index}");
                let worker = start_worker(dir, &name, &genesis, &[], &[]);
                relays.push(relay(dir, &name, &node, &worker, Some("//Bob")));
                worker
            })
            .collect();
        Self::form(node, gatekeepers, workers, relays, &pair("//Alice"), layout.cluster_size)
    }

    /// The network of running processes once `admin` formed cluster 1 of the first `cluster_size`
    /// workers (after each registered) and the gatekeepers published its key.
    pub fn form(
        node: Process,
        gatekeepers: Vec<Process>,
        workers: Vec<Process>,
        relays: Vec<Process>,
        admin: &AccountPair,
        cluster_size: usize,
    ) -> Self {
        let identities: Vec<[u8; 32]> = workers.iter().map(identity).collect();
        for identity in &identities {
            let path = paths::node::worker(format!("0x{}", hex::encode(identity)));
            node.wait_for(&path, Duration::from_secs(60), |_: &WorkerView| true);
        }
        form_cluster_as(&node, admin, 1, &identities[..cluster_size]);
        let cluster = node.wait_for(&paths::node::cluster(1), Duration::from_secs(60), |cluster: &ClusterView| {
            cluster.agreement.is_some()
        });
        let cluster_key = unhex(&cluster.agreement.unwrap()).try_into().unwrap();
        Self { relays, workers, gatekeepers, node, cluster_key, cluster_size }
    }

    /// The first worker.
    pub fn worker(&self) -> &Process {
        &self.workers[0]
    }

    /// Uploads `wasm` and instantiates it on cluster 1 from `deployer` (salt `[1; 32]`, `argument`
    /// sealed to the cluster's key, `fuel` for the constructor); waits until the gatekeeper published
    /// its keys and the worker deployed it. Returns the key its commands are sealed to, and its code
    /// hash.
    pub fn deploy(&self, deployer: &AccountPair, wasm: &[u8], argument: &[u8], fuel: u64) -> (CommandKey, Hash) {
        use veil_crypto::confidential::{CommandBinding, seal_command};
        let node = &self.node;
        let (code, salt) = (veil_primitives::hashing::sha256(wasm), [1; 32]);
        let contract = veil_primitives::contract::contract_id(&deployer.public(), &code, &salt);
        submit(node, deployer, |_| {
            Call::Contracts(ContractsCall::UploadCode { code: wasm.to_vec().try_into().unwrap() })
        });
        submit(node, deployer, |nonce| {
            let epoch = veil_primitives::KeyEpoch(0);
            let binding = CommandBinding { chain: node.chain_id(), contract, epoch, sender: deployer.public(), nonce };
            let argument = seal_command(&self.cluster_key, &binding, argument).unwrap().try_into().unwrap();
            Call::Contracts(ContractsCall::Instantiate {
                code,
                cluster: veil_primitives::ClusterId(1),
                salt,
                fuel,
                argument,
            })
        });
        let path = paths::node::contract(contract);
        let view = node.wait_for(&path, Duration::from_secs(60), |view: &ContractView| view.keys.is_some());
        assert_eq!((view.code.as_str(), view.wasm), (code.to_string().as_str(), true));
        for worker in &self.workers[..self.cluster_size] {
            wait_until("the cluster's workers to deploy the contract", Duration::from_secs(60), || {
                status(worker).contracts.iter().any(|c| c.available)
            });
        }
        let agreement = unhex(&view.keys.unwrap().agreement).try_into().unwrap();
        (CommandKey { contract, epoch: veil_primitives::KeyEpoch(0), agreement }, code)
    }
}

/// What a client seals a contract's commands to: its published key for an epoch.
#[derive(Clone, Copy, Debug)]
pub struct CommandKey {
    pub contract: veil_primitives::ContractId,
    pub epoch: veil_primitives::KeyEpoch,
    pub agreement: [u8; 32],
}

impl CommandKey {
    /// A `Command` call carrying `command` sealed for `from`'s transaction with `nonce` on `chain`,
    /// with prepaid `fuel` and `value` native tokens.
    pub fn call(&self, chain: Hash, from: &AccountPair, nonce: u64, command: &[u8], fuel: u64, value: u128) -> Call {
        use veil_crypto::confidential::{CommandBinding, seal_command};
        let binding =
            CommandBinding { chain, contract: self.contract, epoch: self.epoch, sender: from.public(), nonce };
        let payload = seal_command(&self.agreement, &binding, command).unwrap().try_into().unwrap();
        Call::Contracts(ContractsCall::Command { contract: self.contract, payload, fuel, value: Balance(value) })
    }
}

/// Waits until both workers stand at one height, and returns their state roots there.
pub fn roots_at_one_height(a: &Process, b: &Process) -> (String, String) {
    let mut roots = None;
    wait_until("both workers at one height", Duration::from_secs(60), || {
        let (first, second) = (status(a), status(b));
        if first.height != second.height {
            return false;
        }
        roots = Some((first.state_root, second.state_root));
        true
    });
    roots.unwrap()
}

/// Records when each transaction hash first appears in a finalized block.
pub fn watch_finality(
    url: &str,
) -> std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>> {
    use std::io::{BufRead as _, Write as _};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let authority = url.strip_prefix("http://").unwrap().to_owned();
    let record = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(&authority).unwrap();
        write!(
            stream,
            "GET {} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\r\n",
            paths::node::STREAM_BLOCKS
        )
        .unwrap();
        let mut reader = std::io::BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                let now = std::time::Instant::now();
                // Events that are not blocks carry no transactions.
                let transactions =
                    serde_json::from_str::<veil_client::api::node::StreamedBlock>(data).map(|b| b.transactions);
                let mut seen = record.lock().unwrap();
                for tx in transactions.into_iter().flatten() {
                    seen.entry(tx).or_insert(now);
                }
            }
            line.clear();
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    seen
}

/// Waits until every transaction in `hashes` was seen finalized by [`watch_finality`].
pub fn wait_all(seen: &std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>, hashes: &[Hash]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let done = {
            let seen = seen.lock().unwrap();
            hashes.iter().all(|h| seen.contains_key(&h.to_string()))
        };
        if done {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "transfers did not finalize");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Resident memory of one process, in MiB (0 when it is gone).
pub fn resident_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|kib| kib.parse::<u64>().ok()).unwrap_or(0) as f64 / 1024.0
}

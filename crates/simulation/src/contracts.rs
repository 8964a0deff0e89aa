//! The confidential workload: the built-in notes contract on a cluster of two workers (the
//! operator forms the cluster and assigns the contract after the runtimes' registrations), and a
//! client that adds notes by commands sealed to the contract's published key, one after another,
//! and asks every replica running the contract for its notes every [`QUERY_EVERY`].
//!
//! Each answer is checked as it arrives: it was computed at the height its worker stands at, and
//! holds exactly the notes of the commands final at that height, in order (none lost, none twice,
//! none early). The client is done once every note is final and every replica has answered with
//! all of them.
//!
//! Commands are sealed once and sent again unchanged until final (as a wallet does), so a command
//! is never refused for its key epoch unless the chain stalls for the whole grace period: the run's
//! genesis keeps retired keys usable for a minute, and any refusal is a failure.

use commonware_runtime::{Clock as _, Supervisor as _, deterministic};
use parity_scale_codec::Encode as _;
use rand::RngExt as _;
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime},
};
use veil_chain::{ReadState as _, StateKey, TransactionError};
use veil_crypto::{
    AccountPair, AgreementSecret, SecretBytes,
    confidential::{
        AnswerResult, CommandBinding, ContractKeys, KeyMessage, Query, open_answer, seal_command_with, seal_query,
    },
};
use veil_mempool::AdmissionError;
use veil_primitives::{
    Balance, Call, ClusterId, ContractId, ContractsCall, Hash, KeyEpoch, SignedTransaction, SystemTopic, Topic,
    Transaction, contract::builtin_code_hash, decode_strict, hashing::sha256,
};
use veil_worker::{
    contract::{NoteList, NotesCommand, NotesQuery},
    runtime::{QueryError, Runtime},
};

use crate::{
    network::{Net, SimValidator},
    runtimes::Runtimes,
    workload::{RESEND_AFTER, finalized_at},
};

/// The notes contract's id.
pub const NOTES: ContractId = ContractId([0x17; 32]);
/// The cluster it runs on.
pub const CLUSTER: ClusterId = ClusterId(1);
/// How often the client asks every replica for its notes.
pub const QUERY_EVERY: Duration = Duration::from_secs(2);

struct Command {
    transaction: SignedTransaction,
    sent: SystemTime,
    final_at: Option<u64>,
}

/// The notes client.
pub struct Client {
    pair: AccountPair,
    chain: Hash,
    seed: u64,
    notes: Vec<Vec<u8>>,
    commands: Vec<Command>,
    asked: Option<SystemTime>,
    /// The most notes an answer of each worker (by identity) held, by the contract's key epoch
    /// at the worker when it answered.
    complete: BTreeMap<([u8; 32], KeyEpoch), usize>,
    /// Answers that held a command's note before the client saw the command final: (its index,
    /// the answer's height, the replica). It must turn out final at or below that height.
    early: Vec<(usize, u64, String)>,
    /// The cluster's members as the chain last showed them.
    members: Vec<[u8; 32]>,
    answers: u64,
    stale: u64,
    queries: u64,
}

impl Client {
    /// A client adding `notes` notes from `pair` (which sends nothing else) on the chain of
    /// genesis hash `chain`; its randomness derives from the run's `seed`.
    pub fn new(pair: AccountPair, chain: Hash, seed: u64, notes: u64) -> Self {
        let notes = (0..notes).map(|index| format!("note {index}").into_bytes()).collect();
        Self {
            pair,
            chain,
            seed,
            notes,
            commands: Vec::new(),
            asked: None,
            complete: BTreeMap::new(),
            early: Vec::new(),
            members: Vec::new(),
            answers: 0,
            stale: 0,
            queries: 0,
        }
    }

    /// How many notes are final.
    pub fn final_count(&self) -> usize {
        self.commands.iter().filter(|command| command.final_at.is_some()).count()
    }

    /// Notes sent and final, and answers (for a trace).
    pub fn progress(&self) -> String {
        let complete: Vec<usize> = self.complete.values().copied().collect();
        format!(
            "notes {}/{} final, answers {} (stale {}), best {complete:?}",
            self.commands.len(),
            self.final_count(),
            self.answers,
            self.stale
        )
    }

    /// Answers checked, and queries refused because the replica's view was stale.
    pub fn answers(&self) -> (u64, u64) {
        (self.answers, self.stale)
    }

    /// Whether every note is final and every member of the cluster (as the chain shows it) runs
    /// the contract under key epoch `epoch` and answered with all of them under that epoch.
    pub fn done(&self, runtimes: &Runtimes, epoch: KeyEpoch) -> bool {
        let all = self.notes.len();
        let replicas: BTreeMap<[u8; 32], &Runtime> =
            runtimes.replicas(&NOTES).map(|(_, runtime)| (runtime.identity(), runtime)).collect();
        self.final_count() == all
            && !self.members.is_empty()
            && self.members.iter().all(|member| {
                replicas.get(member).is_some_and(|runtime| {
                    contract_epoch(runtime) == Some(epoch) && self.complete.get(&(*member, epoch)) == Some(&all)
                })
            })
    }

    fn seeded(&self, purpose: &str, index: u64) -> [u8; 32] {
        sha256(
            &[b"veil/simulation/client".as_slice(), &self.seed.to_le_bytes(), purpose.as_bytes(), &index.to_le_bytes()]
                .concat(),
        )
        .0
    }

    /// One tick: the current command moves on once final (or is sent again), the next one is
    /// sealed once the contract's keys are published, and every [`QUERY_EVERY`] each replica is
    /// asked.
    pub async fn step(&mut self, context: &deterministic::Context, net: &Net, runtimes: &Runtimes) {
        let now = context.current();
        let running: Vec<&SimValidator> = net.running().map(|(_, validator)| validator).collect();
        if running.is_empty() {
            return;
        }
        // The newest finalized height the client knows.
        let mut known = 0;
        for validator in &running {
            known = known.max(validator.node().lock().await.finalized_header().height);
        }
        let mut rng = context.child("client");
        let mut pick = || running[rng.random_range(0..running.len())];
        let more = self.commands.len() < self.notes.len();
        match self.commands.last_mut() {
            Some(command) if command.final_at.is_none() => {
                if let Some(height) = finalized_at(&running, &command.transaction.hash()).await {
                    command.final_at = Some(height);
                } else if now.duration_since(command.sent).unwrap_or_default() >= RESEND_AFTER {
                    submit(pick(), &command.transaction, known).await;
                    command.sent = now;
                }
            }
            _ if more => {
                if let Some(keys) = contract_keys(pick(), NOTES).await {
                    let transaction = self.command(&keys);
                    submit(pick(), &transaction, known).await;
                    self.commands.push(Command { transaction, sent: now, final_at: None });
                }
            }
            _ => {}
        }
        // A replica that held a note early: its command is final at or below that answer's height.
        let commands = &self.commands;
        self.early.retain(|(index, height, name)| match commands[*index].final_at {
            Some(at) => {
                assert!(at <= *height, "replica {name} held note {index} at height {height}; it is final at {at}");
                false
            }
            None => true,
        });
        if self.asked.is_none_or(|asked| now.duration_since(asked).unwrap_or_default() >= QUERY_EVERY) {
            self.asked = Some(now);
            if let Some(members) = cluster_members(pick(), CLUSTER).await {
                self.members = members;
            }
            for (name, runtime) in runtimes.replicas(&NOTES) {
                self.ask(name, runtime, known);
            }
        }
    }

    /// The next note's command, sealed to `keys` for its transaction.
    fn command(&self, keys: &ContractKeys) -> SignedTransaction {
        let nonce = self.commands.len() as u64;
        let sender = self.pair.public();
        let binding = CommandBinding { chain: self.chain, contract: NOTES, epoch: keys.epoch, sender, nonce };
        let note = self.notes[self.commands.len()].clone().try_into().unwrap_or_else(|_| panic!("a short note"));
        let ephemeral = AgreementSecret::from_bytes(&SecretBytes::new(self.seeded("ephemeral", nonce)));
        let payload = seal_command_with(&ephemeral, &keys.agreement, &binding, &NotesCommand::Add(note).encode())
            .unwrap_or_else(|error| panic!("sealing a command: {error}"));
        let call = Call::Contracts(ContractsCall::Command {
            contract: NOTES,
            payload: payload.try_into().unwrap_or_else(|_| panic!("a short command")),
            fuel: 0,
            value: Balance(0),
        });
        let transaction = Transaction { genesis: self.chain, signer: sender, nonce, call };
        self.pair.sign_transaction_replayable(transaction, self.seeded("command", nonce))
    }

    /// Asks `runtime` for the client's notes and checks the answer; `known` is the newest
    /// finalized height the client knows.
    fn ask(&mut self, name: &str, runtime: &Runtime, known: u64) {
        self.queries += 1;
        let response = AgreementSecret::from_bytes(&SecretBytes::new(self.seeded("response", self.queries)));
        let nonce: [u8; 16] = self.seeded("nonce", self.queries)[..16].try_into().unwrap_or_default();
        let payload = NotesQuery::Notes { owner: self.pair.public() }.encode();
        let query = Query {
            chain: self.chain,
            worker: runtime.identity(),
            contract: NOTES,
            requester: self.pair.public(),
            nonce,
            known_height: known,
            valid_until: known + 100,
            response_key: response.public(),
            payload: payload.try_into().unwrap_or_else(|_| panic!("a short query")),
        };
        let signed = query.sign_replayable(&self.pair, self.seeded("signature", self.queries));
        // Sealing draws from the system: the sealed bytes never leave this check.
        let body = seal_query(&runtime.agreement_key(), &signed).unwrap_or_else(|error| panic!("sealing: {error}"));
        let sealed = match runtime.query(&body, 0) {
            Ok(sealed) => sealed,
            // A replica whose relayer fell behind (its validator crashed) may say so.
            Err(QueryError::Stale(_)) => {
                self.stale += 1;
                return;
            }
            Err(error) => panic!("replica {name} refused an honest query: {error}"),
        };
        let answer = open_answer(&response, &signed.hash(), &runtime.identity(), &sealed)
            .unwrap_or_else(|error| panic!("replica {name}'s answer does not open: {error}"));
        let height = runtime.view().height;
        assert_eq!(answer.height, height, "replica {name} answered at another height than it stands at");
        assert!(height <= known, "replica {name} answered at {height}, past the chain's {known}");
        assert_eq!(answer.code, builtin_code_hash("notes"), "replica {name} answered for other code");
        assert!(answer.insecure, "a software replica {name} says it is not one");
        let notes: Vec<Vec<u8>> = match answer.result {
            AnswerResult::Ok(bytes) => decode_strict::<NoteList>(&bytes)
                .unwrap_or_else(|error| panic!("replica {name}'s notes do not decode: {error}"))
                .iter()
                .map(|note| note.to_vec())
                .collect(),
            AnswerResult::Refused(_) => panic!("replica {name} refused its owner's notes"),
        };
        // The commands final at the answer's height, and the one in flight (final or not yet,
        // as far as the client has seen).
        let known_final = self.commands.iter().take_while(|c| c.final_at.is_some_and(|at| at <= height)).count();
        let in_flight = self.commands.get(known_final).is_some_and(|command| command.final_at.is_none());
        let held = notes.len();
        assert!(
            held == known_final || (in_flight && held == known_final + 1),
            "replica {name} at height {height} holds {held} notes; {known_final} commands are final by then"
        );
        assert_eq!(notes, self.notes[..held], "replica {name} holds other notes than the client added");
        if held > known_final {
            // Final by the replica's height, though the client has not seen it yet: checked later.
            self.early.push((known_final, height, name.to_owned()));
        }
        if let Some(epoch) = contract_epoch(runtime) {
            let best = self.complete.entry((runtime.identity(), epoch)).or_default();
            *best = (*best).max(held);
        }
        self.answers += 1;
    }
}

/// Submits `transaction` to `validator`. Refusals that a later send meets pass: already pending,
/// a nonce gap or a full pool, a nonce used because the command is final, and anything from a
/// validator behind the newest finalized height `known` (one catching up has not seen the
/// contract assigned yet: found by seed 1003, a byzantine validator started honest on empty
/// storage). Any other refusal fails the run.
async fn submit(validator: &SimValidator, transaction: &SignedTransaction, known: u64) {
    let behind = validator.node().lock().await.finalized_header().height < known;
    match validator.node().submit(transaction.clone()).await {
        Ok(_)
        | Err(
            AdmissionError::AlreadyPending(_)
            | AdmissionError::NonceTaken { .. }
            | AdmissionError::NonceGapTooLarge { .. }
            | AdmissionError::Full(_)
            | AdmissionError::Invalid(TransactionError::StaleNonce { .. }),
        ) => {}
        Err(_) if behind => {}
        Err(error) => panic!("an honest command {} was refused: {error}", transaction.hash()),
    }
}

/// The key epoch of the notes contract at `runtime`.
fn contract_epoch(runtime: &Runtime) -> Option<KeyEpoch> {
    runtime.contracts().into_iter().find(|(id, ..)| *id == NOTES).map(|(_, _, epoch, _)| epoch)
}

/// The members of `cluster`, as `validator` has them final.
async fn cluster_members(validator: &SimValidator, cluster: ClusterId) -> Option<Vec<[u8; 32]>> {
    let keys = BTreeSet::from([StateKey::Cluster(cluster).to_bytes()]);
    let snapshot = validator.node().lock().await.read(&keys).await.ok()?;
    Some(snapshot.cluster(cluster).ok()??.workers.to_vec())
}

/// The newest keys the gatekeepers published for `contract`, as `validator` has them final.
async fn contract_keys(validator: &SimValidator, contract: ContractId) -> Option<ContractKeys> {
    let topic = Topic::System(SystemTopic::KeyEpochs);
    let page = validator.node().lock().await.topic_messages(&topic, Some(0), u64::MAX, None).await.ok()??;
    page.messages.iter().rev().find_map(|message| match decode_strict::<KeyMessage>(&message.payload) {
        Ok(KeyMessage::ContractKeys(keys)) if keys.contract == contract => Some(keys),
        _ => None,
    })
}

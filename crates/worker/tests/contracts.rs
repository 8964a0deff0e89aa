//! Wasm contracts through the runtime, on two workers of one cluster, relayed in process: deployed
//! with a sealed constructor argument, commands with fuel and native tokens, releases, messages
//! between contracts, failing contracts, and a restart. Every batch is applied to both workers,
//! which must agree on the refusals, the fuel, the state root and the egress, byte for byte.
#![allow(clippy::unwrap_used)]

mod support;

use parity_scale_codec::{DecodeAll, Encode};
use support::{Scenario, ask, contract_query};
use veil_chain::ReadState as _;
use veil_chain::testing::{assert_issuance_invariant, pair};
use veil_contract_engine::{
    abi::{AccountId as AbiAccount, ContractId as AbiContract},
    testing::contract_wasm,
};
use veil_crypto::{AccountPair, confidential::AnswerResult};
use veil_faulty::Command as Faulty;
use veil_primitives::{AccountId, Balance, ContractId, hashing::sha256};
use veil_secret_token::{Asset, Command as Token, Query as TokenQuery};
use veil_token_client::Command as Client;
use veil_worker::runtime::{Applied, Host, Refused, Runtime};

/// Fuel each command prepays.
const FUEL: u64 = 20_000_000;

/// One native token, in base units.
const ONE: u128 = Balance::ONE.0;

/// Relays one batch to both workers: they must agree on everything. Their egress goes on chain.
fn step(scenario: &mut Scenario, workers: &mut [Runtime; 2]) -> Applied {
    let batch = scenario.batch_for(&workers[0]);
    let first = workers[0].apply(&batch).unwrap();
    let second = workers[1].apply(&batch).unwrap();
    assert_eq!(first, second, "refusals and fuel agree");
    assert_eq!(workers[0].state_root(), workers[1].state_root());
    assert_eq!(workers[0].pending_egress(), workers[1].pending_egress(), "byte-identical egress");
    scenario.submit(workers[0].pending_egress());
    first
}

fn account(pair: &AccountPair) -> AbiAccount {
    AbiAccount(pair.public().0)
}

/// Asks `worker` as `by` and returns the answer's bytes or the refusal.
fn query(
    scenario: &Scenario,
    worker: &Runtime,
    by: &AccountPair,
    contract: ContractId,
    payload: &impl Encode,
) -> Result<Vec<u8>, String> {
    let (query, response) = contract_query(scenario, worker.identity(), by, contract, &payload.encode());
    let answer = ask(worker, &query.sign(by), &response).unwrap();
    match answer.result {
        AnswerResult::Ok(bytes) => Ok(bytes.to_vec()),
        AnswerResult::Refused(reason) => Err(String::from_utf8_lossy(&reason).into_owned()),
    }
}

/// `owner`'s confidential native balance in `token`, asked by `owner`.
fn balance(scenario: &Scenario, worker: &Runtime, token: ContractId, owner: AbiAccount, by: &AccountPair) -> u128 {
    let ask = TokenQuery::Balance { owner, asset: Asset::Native };
    u128::decode_all(&mut &query(scenario, worker, by, token, &ask).unwrap()[..]).unwrap()
}

fn chain_balance(scenario: &Scenario, account: &AccountId) -> u128 {
    scenario.chain.state.account(account).unwrap().balance.0
}

fn locked(scenario: &Scenario, contract: &ContractId) -> u128 {
    scenario.chain.state.contract(contract).unwrap().unwrap().locked.0
}

/// Gatekeeper and two workers registered, the cluster formed and its key published.
fn cluster() -> (Scenario, Runtime, [Runtime; 2]) {
    let (mut scenario, mut gatekeeper, mut workers) = Scenario::with_workers(2);
    scenario.form_cluster(&[workers[0].identity(), workers[1].identity()]);
    scenario.settle_all(&mut gatekeeper, &mut workers);
    let workers: [Runtime; 2] = workers.try_into().unwrap_or_else(|_| unreachable!());
    (scenario, gatekeeper, workers)
}

/// Instantiates each module (constructor argument `()`) from `deployer` and brings keys and code to
/// both workers; returns the contracts and the workers' refusals on the way.
fn deploy(
    scenario: &mut Scenario,
    gatekeeper: &mut Runtime,
    workers: &mut [Runtime; 2],
    deployer: &AccountPair,
    modules: &[&[u8]],
) -> (Vec<ContractId>, Vec<Refused>) {
    let mut ids = Vec::new();
    let mut transactions = Vec::new();
    for (salt, module) in modules.iter().enumerate() {
        let (id, txs) = scenario.instantiate(deployer, module, &().encode(), FUEL, salt as u8);
        ids.push(id);
        transactions.extend(txs);
    }
    scenario.block(transactions);
    scenario.relay(gatekeeper); // the contracts' keys
    scenario.relay(gatekeeper);
    let mut refused = step(scenario, workers).refused; // keys
    refused.extend(step(scenario, workers).refused); // the code and the constructors
    (ids, refused)
}

/// [`deploy`], which must succeed.
fn deployed(
    scenario: &mut Scenario,
    gatekeeper: &mut Runtime,
    workers: &mut [Runtime; 2],
    deployer: &AccountPair,
    modules: &[&[u8]],
) -> Vec<ContractId> {
    let (ids, refused) = deploy(scenario, gatekeeper, workers, deployer, modules);
    assert!(refused.is_empty(), "{refused:?}");
    ids
}

/// `command` from `from` in a block of its own.
fn send(scenario: &mut Scenario, contract: ContractId, from: &AccountPair, command: &[u8], value: u128) {
    let transaction = scenario.call(contract, from, command, FUEL, value);
    scenario.block(vec![transaction]);
}

#[test]
fn the_secret_token_runs_on_two_workers_that_agree_on_everything() {
    let (mut scenario, mut gatekeeper, mut workers) = cluster();
    let (charlie, dave, eve) = (pair("//Charlie"), pair("//Dave"), pair("//Eve"));
    let (token_wasm, client_wasm) = (contract_wasm("veil_secret_token"), contract_wasm("veil_token_client"));
    let ids = deployed(&mut scenario, &mut gatekeeper, &mut workers, &charlie, &[&token_wasm, &client_wasm]);
    let (token, client) = (ids[0], ids[1]);
    let client_account = AbiAccount(client.0);

    let memo = b"rent for november".to_vec();
    let transfer = Token::Transfer { asset: Asset::Native, to: account(&dave), amount: 300 * ONE, memo };
    let commands = vec![
        scenario.call(token, &charlie, &Token::Deposit.encode(), FUEL, 1_000 * ONE),
        scenario.call(token, &charlie, &transfer.encode(), FUEL, 0),
        // More than Charlie holds: refused by the contract, fuel charged.
        scenario.call(
            token,
            &charlie,
            &Token::Withdraw { amount: 5_000 * ONE, to: account(&charlie) }.encode(),
            FUEL,
            0,
        ),
        // Tokens sent along a command that takes none: refused, and returned.
        scenario.call(token, &charlie, &transfer.encode(), FUEL, 50 * ONE),
        scenario.call(token, &dave, &Token::Withdraw { amount: 100 * ONE, to: account(&eve) }.encode(), FUEL, 0),
        scenario.call(
            token,
            &charlie,
            &Token::Transfer { asset: Asset::Native, to: client_account, amount: 80 * ONE, memo: Vec::new() }.encode(),
            FUEL,
            0,
        ),
    ];
    scenario.block(commands);
    let applied = step(&mut scenario, &mut workers);
    assert_eq!(applied.refused.len(), 2, "{:?}", applied.refused);
    assert!(
        applied.refused.iter().all(|reason| reason.to_string().contains("its reason is confidential")),
        "{:?}",
        applied.refused
    );
    assert!(applied.fuel_used > 0);
    // The releases (Eve's withdrawal, Charlie's returned 50) land; the workers see them accepted.
    step(&mut scenario, &mut workers);
    assert!(workers[0].pending_egress().is_empty(), "acknowledged from the releases topic");

    let worker = &workers[0];
    assert_eq!(balance(&scenario, worker, token, account(&charlie), &charlie), 620 * ONE);
    assert_eq!(balance(&scenario, worker, token, account(&dave), &dave), 200 * ONE);
    let refusal =
        query(&scenario, worker, &dave, token, &TokenQuery::Balance { owner: account(&charlie), asset: Asset::Native });
    assert!(refusal.unwrap_err().contains("only the owner"));
    let (ask_locked, response) =
        contract_query(&scenario, worker.identity(), &eve, token, &TokenQuery::Locked.encode());
    let answer = ask(worker, &ask_locked.sign(&eve), &response).unwrap();
    assert_eq!(answer.code, sha256(&token_wasm), "answers name the code");
    let AnswerResult::Ok(bytes) = answer.result else { panic!("{answer:?}") };
    assert_eq!(u128::decode_all(&mut &bytes[..]).unwrap(), 900 * ONE);
    assert_eq!(locked(&scenario, &token), 900 * ONE, "the chain locks what the confidential balances hold");
    assert_eq!(chain_balance(&scenario, &eve.public()), 100 * ONE, "released to Eve");
    assert_issuance_invariant(&scenario.chain.state);

    // Cross-contract: the client queries the token synchronously, then pays Dave by message.
    let observe = Client::Observe { token: AbiContract(token.0) }.encode();
    let pay = Client::Pay { token: AbiContract(token.0), to: account(&dave), amount: 30 * ONE }.encode();
    let commands = vec![scenario.call(client, &dave, &observe, FUEL, 0), scenario.call(client, &dave, &pay, FUEL, 0)];
    scenario.block(commands);
    let applied = step(&mut scenario, &mut workers);
    assert!(applied.refused.is_empty(), "{:?}", applied.refused);
    let seen = query(&scenario, &workers[0], &eve, client, &veil_token_client::Query::Seen).unwrap();
    assert_eq!(u128::decode_all(&mut &seen[..]).unwrap(), 80 * ONE);
    assert!(!workers[0].pending_egress().is_empty(), "the payment travels as egress");
    let applied = step(&mut scenario, &mut workers); // the token executes the client's message
    assert!(applied.refused.is_empty(), "{:?}", applied.refused);
    step(&mut scenario, &mut workers);
    assert!(workers[0].pending_egress().is_empty(), "acknowledged from the token's topic");
    assert_eq!(balance(&scenario, &workers[0], token, account(&dave), &dave), 230 * ONE);

    // A restarted worker holds the same contracts and answers the same.
    let checkpoint = workers[1].checkpoint();
    let restored = Runtime::restore(&scenario.genesis, Host::new(true, support::limits()), &checkpoint).unwrap();
    assert_eq!(restored.state_root(), workers[0].state_root());
    assert_eq!(balance(&scenario, &restored, token, account(&dave), &dave), 230 * ONE);
}

#[test]
fn failing_contracts_change_nothing_charge_their_fuel_and_return_tokens() {
    let (mut scenario, mut gatekeeper, mut workers) = cluster();
    let charlie = pair("//Charlie");
    let faulty_wasm = contract_wasm("veil_faulty");
    let not_wasm = b"\0asm but not really a module".to_vec();
    let ids = deployed(&mut scenario, &mut gatekeeper, &mut workers, &charlie, &[&faulty_wasm]);
    let faulty = ids[0];
    let write = Faulty::Write { key: b"k".to_vec(), value: b"v".to_vec() }.encode();
    send(&mut scenario, faulty, &charlie, &write, 0);
    assert!(step(&mut scenario, &mut workers).refused.is_empty());
    let state = workers[0].contract_state_hash(&faulty).unwrap();

    let before = chain_balance(&scenario, &charlie.public());
    let pot_before = scenario.chain.state.reward_pots().unwrap().workers.0;
    let failing = [
        (Faulty::Spin.encode(), "out of fuel"),
        (Faulty::Allocate { megabytes: 64 }.encode(), "panicked"),
        (Faulty::Panic.encode(), "panicked (its message is confidential)"),
        (Faulty::Refuse.encode(), "its reason is confidential"),
        (vec![0xff, 1, 2], "its reason is confidential"),
    ];
    let commands = failing.iter().map(|(command, _)| scenario.call(faulty, &charlie, command, FUEL, 7 * ONE)).collect();
    scenario.block(commands);
    let applied = step(&mut scenario, &mut workers);
    assert_eq!(applied.refused.len(), failing.len(), "{:?}", applied.refused);
    for ((_, expected), refusal) in failing.iter().zip(&applied.refused) {
        assert!(refusal.to_string().contains(expected), "{refusal} should say {expected}");
        // A panic's message is the contract's own text and may quote its state: never told.
        assert!(!refusal.to_string().contains("panics as asked"), "{refusal} tells the panic's message");
    }
    let remembered: Vec<String> = workers[0].refusals().map(ToString::to_string).collect();
    assert!(remembered.iter().all(|refusal| !refusal.contains("panics as asked")), "{remembered:?}");
    assert!(applied.fuel_used >= FUEL, "the spin used all its fuel: {}", applied.fuel_used);
    assert_eq!(workers[0].contract_state_hash(&faulty), Some(state), "state unchanged");
    step(&mut scenario, &mut workers); // the returned tokens land

    // Charlie paid each transaction's fee and prepaid fuel, and got every token back.
    let paid = before - chain_balance(&scenario, &charlie.public());
    let fuel_cost = failing.len() as u128 * u128::from(FUEL) * scenario.genesis.economics.fuel_price.0;
    assert!(paid > fuel_cost && paid < fuel_cost + ONE, "paid {paid}, fuel alone {fuel_cost}");
    let pot_after = scenario.chain.state.reward_pots().unwrap().workers.0;
    assert!(pot_after - pot_before >= fuel_cost, "the prepaid fuel went to the workers' pot");
    assert_eq!(locked(&scenario, &faulty), 0, "every token sent along was returned");
    assert_issuance_invariant(&scenario.chain.state);

    // Code that does not compile is never deployed; commands to it are refused, tokens returned.
    let (ids, refused) = deploy(&mut scenario, &mut gatekeeper, &mut workers, &charlie, &[&not_wasm]);
    assert!(refused.iter().any(|refusal| refusal.to_string().contains("does not compile")), "{refused:?}");
    let contract = ids[0];
    send(&mut scenario, contract, &charlie, &write, 3 * ONE);
    let applied = step(&mut scenario, &mut workers);
    assert!(applied.refused[0].to_string().contains("not deployed"), "{:?}", applied.refused);
    step(&mut scenario, &mut workers);
    assert_eq!(locked(&scenario, &contract), 0);
    assert_issuance_invariant(&scenario.chain.state);
}

/// Issue 22: the only gatekeeper opens a new key epoch and is then held down past the grace
/// period, so no cluster or contract gets keys of the new epoch. The old epoch does not retire (no
/// worker destroys the keys the token's state is sealed under), the token is frozen (a command is
/// refused with a reason that says so, its locked tokens stay), a worker restarted then starts and
/// answers, and once the gatekeeper is back the token is re-keyed, the old epoch retires, and the
/// token takes commands again with nothing lost.
#[test]
fn a_gatekeeper_down_past_the_grace_period_freezes_a_contract_and_loses_nothing() {
    use veil_chain::EpochHistory as _;
    use veil_primitives::{Call, EpochsCall, KeyEpoch};
    let (mut scenario, mut gatekeeper, mut workers) = cluster();
    // Each worker's own egress differs (its epoch keys, its heartbeats): relayed one by one.
    let relay = |scenario: &mut Scenario, workers: &mut [Runtime; 2]| {
        for worker in workers.iter_mut() {
            scenario.relay(worker);
        }
    };
    let (charlie, dave) = (pair("//Charlie"), pair("//Dave"));
    let token_wasm = contract_wasm("veil_secret_token");
    let token = deployed(&mut scenario, &mut gatekeeper, &mut workers, &charlie, &[&token_wasm])[0];
    send(&mut scenario, token, &charlie, &Token::Deposit.encode(), 1_000 * ONE);
    step(&mut scenario, &mut workers);
    assert_eq!(balance(&scenario, &workers[0], token, account(&charlie), &charlie), 1_000 * ONE);
    assert_eq!(locked(&scenario, &token), 1_000 * ONE);

    // The rotation admin asks for epoch 1; the gatekeeper proposes it (the chain opens it) and goes
    // down before it reads the opening, so it publishes no key of epoch 1.
    let bob = scenario.bob.clone();
    let (rotate, _) = scenario.sign(&bob, Call::Epochs(EpochsCall::RotateKeys));
    scenario.block(vec![rotate]);
    scenario.relay(&mut gatekeeper);
    assert_eq!(scenario.epochs().epoch(), KeyEpoch(1));
    let grace = scenario.genesis.keys.grace_ms;
    scenario.wait(grace + 1);
    scenario.wait(1);
    relay(&mut scenario, &mut workers);
    let epochs = scenario.epochs();
    assert!(epochs.previous.is_some(), "epoch 0 has not retired: the token has no keys of epoch 1");
    assert_eq!(epochs.stale_keys, 2, "the cluster and the token wait for keys");
    assert_eq!(scenario.contract_keys(token).epoch, KeyEpoch(0));

    // Frozen: a command is refused with the reason, and nothing moves.
    let frozen = scenario.call(token, &dave, &Token::Deposit.encode(), FUEL, 10 * ONE);
    let built = scenario.chain.push_after(1, vec![frozen], Vec::new());
    let (_, refusal) = built.dropped.first().expect("the command is refused");
    assert!(refusal.to_string().contains("frozen"), "{refusal}");
    assert_eq!(locked(&scenario, &token), 1_000 * ONE, "its tokens stay locked");
    // A rotation cannot be asked for over it either, and says why.
    let (again, _) = scenario.sign(&bob, Call::Epochs(EpochsCall::RotateKeys));
    let built = scenario.chain.push_after(1, vec![again], Vec::new());
    assert!(built.dropped[0].1.to_string().contains("has not retired"), "{}", built.dropped[0].1);

    // The workers keep the keys the token's state is under: they answer, and a restart starts.
    relay(&mut scenario, &mut workers);
    assert_eq!(balance(&scenario, &workers[0], token, account(&charlie), &charlie), 1_000 * ONE);
    let restored =
        Runtime::restore(&scenario.genesis, Host::new(true, support::limits()), &workers[1].checkpoint()).unwrap();
    assert_eq!(balance(&scenario, &restored, token, account(&charlie), &charlie), 1_000 * ONE);
    assert!(restored.refusals().next().is_none(), "nothing it cannot serve");

    // The gatekeeper is back: epoch-1 keys for the cluster and the token, then the retirement.
    scenario.relay(&mut gatekeeper);
    scenario.relay(&mut gatekeeper);
    scenario.wait(1);
    assert!(scenario.epochs().previous.is_none(), "epoch 0 retired once every key of epoch 1 was out");
    assert_eq!(scenario.contract_keys(token).epoch, KeyEpoch(1));
    relay(&mut scenario, &mut workers);
    relay(&mut scenario, &mut workers);
    for worker in &workers {
        assert_eq!(worker.contracts()[0].2, KeyEpoch(1), "re-keyed");
        assert!(worker.secret_keys().iter().all(|(epoch, _)| *epoch != Some(KeyEpoch(0))), "epoch 0 destroyed");
    }
    let transfer = Token::Transfer { asset: Asset::Native, to: account(&dave), amount: 250 * ONE, memo: Vec::new() };
    send(&mut scenario, token, &charlie, &transfer.encode(), 0);
    relay(&mut scenario, &mut workers);
    for worker in &workers {
        assert!(worker.refusals().next().is_none(), "{:?}", worker.refusals().collect::<Vec<_>>());
    }
    assert_eq!(balance(&scenario, &workers[0], token, account(&charlie), &charlie), 750 * ONE);
    assert_eq!(balance(&scenario, &workers[0], token, account(&dave), &dave), 250 * ONE);
    assert_eq!(locked(&scenario, &token), 1_000 * ONE);
    let restored =
        Runtime::restore(&scenario.genesis, Host::new(true, support::limits()), &workers[1].checkpoint()).unwrap();
    assert_eq!(balance(&scenario, &restored, token, account(&dave), &dave), 250 * ONE);
}

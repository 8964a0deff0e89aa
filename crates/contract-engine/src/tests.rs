use super::*;
use crate::testing::contract_wasm;
use parity_scale_codec::{Decode, DecodeAll};

const ALICE: AccountId = AccountId([1; 32]);
const BOB: AccountId = AccountId([2; 32]);
const TOKEN: ContractId = ContractId([7; 32]);
const CLIENT: ContractId = ContractId([8; 32]);
const FUEL: u64 = 50_000_000;

fn secrets(seed: u8) -> Arc<Secrets> {
    Arc::new(Secrets::new(RuntimeSigner::from_seed(&SecretBytes::new([seed; 32])), SecretBytes::new([seed; 32])))
}

fn env(contract: ContractId, caller: ContractCaller, value: u128) -> Env {
    Env { contract, owner: ALICE, caller, height: 5, timestamp_ms: 5_000, value }
}

/// A contract held the way a runtime holds one.
struct Held {
    engine: Engine,
    code: Arc<Code>,
    storage: Arc<Storage>,
    secrets: Arc<Secrets>,
    id: ContractId,
}

impl Held {
    fn new(engine: &Engine, name: &str, id: ContractId) -> Self {
        let code = Arc::new(engine.compile(&contract_wasm(name)).unwrap());
        let mut held = Self { engine: engine.clone(), code, storage: Arc::default(), secrets: secrets(id.0[0]), id };
        let outcome = held.call(Entry::Init, ContractCaller::Account(ALICE), 0, &().encode(), FUEL, &Peers::default());
        outcome.result.unwrap();
        held
    }

    fn call(
        &mut self,
        entry: Entry,
        caller: ContractCaller,
        value: u128,
        payload: &[u8],
        fuel: u64,
        peers: &Peers,
    ) -> Outcome {
        let call = Call { entry, env: env(self.id, caller, value), payload, fuel, call_id: [3; 32] };
        let outcome = self.engine.execute(&self.code, &self.storage, &self.secrets, peers, call);
        if let Ok(completed) = &outcome.result {
            commit(&mut self.storage, completed.writes.clone());
        }
        outcome
    }

    fn command(&mut self, caller: AccountId, value: u128, command: &impl Encode) -> Outcome {
        self.call(Entry::Execute, ContractCaller::Account(caller), value, &command.encode(), FUEL, &Peers::default())
    }

    fn ask<T: DecodeAll>(&mut self, caller: AccountId, query: &impl Encode) -> Result<T, Failure> {
        let outcome =
            self.call(Entry::Query, ContractCaller::Account(caller), 0, &query.encode(), FUEL, &Peers::default());
        outcome.result.map(|completed| T::decode_all(&mut &completed.output[..]).unwrap())
    }

    fn peer(&self) -> Peer {
        Peer {
            code: Arc::clone(&self.code),
            storage: Arc::clone(&self.storage),
            secrets: Arc::clone(&self.secrets),
            owner: ALICE,
        }
    }
}

/// The secret token's messages, encoded by hand so this crate need not link the contract.
#[derive(Encode, Decode)]
enum Token {
    #[codec(index = 0)]
    Deposit,
    #[codec(index = 1)]
    Transfer { asset: u8, to: AccountId, amount: u128, memo: Vec<u8> },
    #[codec(index = 2)]
    Withdraw { amount: u128, to: AccountId },
}

#[derive(Encode)]
enum TokenQuery {
    #[codec(index = 0)]
    Balance { owner: AccountId, asset: u8 },
}

#[test]
fn the_secret_token_runs_and_its_queries_answer_owners_only() {
    let engine = Engine::new();
    let mut token = Held::new(&engine, "veil_secret_token", TOKEN);
    token.command(ALICE, 1_000, &Token::Deposit).result.unwrap();
    let transfer = Token::Transfer { asset: 0, to: BOB, amount: 400, memo: b"hi".to_vec() };
    let outcome = token.command(ALICE, 0, &transfer);
    assert!(outcome.fuel_used > 0);
    assert_eq!(outcome.result.unwrap().effects.events.len(), 1);
    let withdrawn = token.command(BOB, 0, &Token::Withdraw { amount: 100, to: ALICE }).result.unwrap();
    assert_eq!(withdrawn.effects.released, vec![(ALICE, 100)]);

    assert_eq!(token.ask::<u128>(BOB, &TokenQuery::Balance { owner: BOB, asset: 0 }), Ok(300));
    let refusal = token.ask::<u128>(BOB, &TokenQuery::Balance { owner: ALICE, asset: 0 }).unwrap_err();
    assert!(matches!(&refusal, Failure::Refused(reason) if reason.contains("only the owner")), "{refusal}");
}

#[test]
fn the_same_calls_give_the_same_storage_and_fuel() {
    let engine = Engine::new();
    let run = || {
        let mut token = Held::new(&engine, "veil_secret_token", TOKEN);
        let mut fuel = Vec::new();
        for round in 0..20u128 {
            fuel.push(token.command(ALICE, 10 + round, &Token::Deposit).fuel_used);
            let transfer = Token::Transfer { asset: 0, to: BOB, amount: round + 1, memo: vec![round as u8; 8] };
            fuel.push(token.command(ALICE, 0, &transfer).fuel_used);
        }
        (token.storage, fuel)
    };
    let (first_storage, first_fuel) = run();
    let (second_storage, second_fuel) = run();
    assert_eq!(first_storage, second_storage);
    assert_eq!(first_fuel, second_fuel);
}

#[test]
fn failures_change_nothing_and_still_charge_fuel() {
    let engine = Engine::new();
    let mut faulty = Held::new(&engine, "veil_faulty", ContractId([9; 32]));
    #[derive(Encode)]
    enum Faulty {
        #[codec(index = 0)]
        Write { key: Vec<u8>, value: Vec<u8> },
        #[codec(index = 1)]
        Spin,
        #[codec(index = 2)]
        Allocate { megabytes: u32 },
        #[codec(index = 3)]
        Panic,
        #[codec(index = 4)]
        Refuse,
    }
    faulty.command(ALICE, 0, &Faulty::Write { key: b"k".to_vec(), value: b"v".to_vec() }).result.unwrap();
    let before = Arc::clone(&faulty.storage);

    let spin = faulty.command(ALICE, 0, &Faulty::Spin);
    assert_eq!((spin.fuel_used, spin.result), (FUEL, Err(Failure::OutOfFuel)));
    let allocate = faulty.command(ALICE, 0, &Faulty::Allocate { megabytes: 64 });
    // The SDK reports an allocation failure through its panic handler: the contract's own words.
    assert!(matches!(&allocate.result, Err(Failure::Panicked(_))), "{allocate:?}");
    assert!(allocate.fuel_used > 0);
    let panic = faulty.command(ALICE, 0, &Faulty::Panic);
    assert_eq!(panic.result, Err(Failure::Panicked("the faulty contract panics as asked".into())));
    let refuse = faulty.command(ALICE, 0, &Faulty::Refuse);
    assert_eq!(refuse.result, Err(Failure::Refused("refused as asked".into())));
    let garbage = faulty.call(Entry::Execute, ContractCaller::Account(ALICE), 0, &[9, 9], FUEL, &Peers::default());
    assert!(matches!(&garbage.result, Err(Failure::Refused(reason)) if reason.contains("malformed")), "{garbage:?}");
    assert_eq!(faulty.storage, before, "no failure wrote anything");

    // Fuel is charged before the work: too little to even start is out of fuel, not a crash.
    let starved =
        faulty.call(Entry::Execute, ContractCaller::Account(ALICE), 0, &Faulty::Panic.encode(), 10, &Peers::default());
    assert_eq!(starved.result, Err(Failure::OutOfFuel));
}

#[test]
fn queries_cannot_write() {
    let engine = Engine::new();
    let mut faulty = Held::new(&engine, "veil_faulty", ContractId([9; 32]));
    // The faulty contract's query reads only; its commands write first. Run a command as a query.
    let as_query = faulty.call(
        Entry::Query,
        ContractCaller::Account(ALICE),
        0,
        &b"touched".to_vec().encode(),
        FUEL,
        &Peers::default(),
    );
    assert_eq!(as_query.result.unwrap().output, Vec::<u8>::new());
}

#[test]
fn bad_code_is_refused_with_the_reason() {
    let engine = Engine::new();
    let huge = vec![0u8; engine.limits().max_code_bytes + 1];
    assert!(matches!(engine.compile(&huge), Err(CodeError::TooLarge { .. })));
    assert!(matches!(engine.compile(b"not wasm at all"), Err(CodeError::Invalid(_))));
    // A valid module that imports something the host does not offer.
    let foreign_import = [
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // one type: () -> ()
        0x02, 0x0b, 0x01, 0x03, b'e', b'n', b'v', 0x03, b'f', b'o', b'o', 0x00, 0x00, // import env.foo
    ];
    let error = engine.compile(&foreign_import).err().unwrap();
    assert!(matches!(&error, CodeError::Interface(reason) if reason.contains("env.foo")), "{error}");
    // A valid module without the entry point.
    let empty = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    assert!(matches!(engine.compile(&empty), Err(CodeError::Interface(reason)) if reason.contains("call")));
}

#[test]
fn contracts_query_and_message_each_other() {
    let engine = Engine::new();
    let mut token = Held::new(&engine, "veil_secret_token", TOKEN);
    let mut client = Held::new(&engine, "veil_token_client", CLIENT);
    // The client contract holds 500 in the token (deposited by Alice, transferred to its account).
    token.command(ALICE, 500, &Token::Deposit).result.unwrap();
    token
        .command(ALICE, 0, &Token::Transfer { asset: 0, to: AccountId(CLIENT.0), amount: 500, memo: vec![] })
        .result
        .unwrap();

    #[derive(Encode)]
    enum Client {
        #[codec(index = 0)]
        Observe { token: ContractId },
        #[codec(index = 1)]
        Pay { token: ContractId, to: AccountId, amount: u128 },
    }
    let peers: Peers = Arc::new([(TOKEN, token.peer())].into_iter().collect());
    let observe = Client::Observe { token: TOKEN }.encode();
    client.call(Entry::Execute, ContractCaller::Account(BOB), 0, &observe, FUEL, &peers).result.unwrap();
    let seen = client.call(Entry::Query, ContractCaller::Account(BOB), 0, &0u8.encode(), FUEL, &peers);
    assert_eq!(u128::decode_all(&mut &seen.result.unwrap().output[..]), Ok(500));

    // Without the token among its peers the synchronous query is refused, and so is the command.
    let alone = client.call(Entry::Execute, ContractCaller::Account(BOB), 0, &observe, FUEL, &Peers::default());
    assert!(matches!(&alone.result, Err(Failure::Refused(reason)) if reason.contains("no contract")), "{alone:?}");

    let pay = Client::Pay { token: TOKEN, to: BOB, amount: 200 }.encode();
    let outside = client.call(Entry::Execute, ContractCaller::Account(BOB), 0, &pay, FUEL, &Peers::default());
    let sent_outside = matches!(&outside.result, Err(Failure::Trapped(reason)) if reason.contains("in this cluster"));
    assert!(sent_outside, "messages stay in the cluster: {outside:?}");
    let sent = client.call(Entry::Execute, ContractCaller::Account(BOB), 0, &pay, FUEL, &peers).result.unwrap();
    let [(target, message, fuel)] = &sent.effects.sent[..] else { panic!("{sent:?}") };
    assert_eq!((*target, *fuel), (TOKEN, 5_000_000));
    // Delivered as a command from the client contract, it moves the client's balance.
    let delivered = token.call(Entry::Execute, ContractCaller::Contract(CLIENT), 0, message, *fuel, &Peers::default());
    delivered.result.unwrap();
    assert_eq!(token.ask::<u128>(BOB, &TokenQuery::Balance { owner: BOB, asset: 0 }), Ok(200));
}

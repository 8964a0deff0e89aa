use super::*;
use alloc::vec;
use parity_scale_codec::DecodeAll;
use veil_contract_sdk::{
    testing::{env, TestHost},
    Caller, Entry,
};

const ALICE: AccountId = AccountId([1; 32]);
const BOB: AccountId = AccountId([2; 32]);

fn run(caller: AccountId, value: u128, command: Command) -> Result<veil_contract_sdk::testing::Effects, String> {
    let env = Env { value, ..env(Caller::Account(caller)) };
    TestHost::call::<SecretToken>(Entry::Execute, env, &command.encode()).map(|(_, effects)| effects)
}

fn ask<T: DecodeAll>(caller: AccountId, query: Query) -> Result<T, String> {
    let (answer, _) = TestHost::call::<SecretToken>(Entry::Query, env(Caller::Account(caller)), &query.encode())?;
    Ok(T::decode_all(&mut &answer[..]).unwrap())
}

fn fresh() {
    TestHost::reset();
    TestHost::call::<SecretToken>(Entry::Init, env(Caller::Account(ALICE)), &().encode()).unwrap();
}

#[test]
fn deposit_transfer_withdraw_keep_the_books_balanced() {
    fresh();
    run(ALICE, 1_000, Command::Deposit).unwrap();
    let memo = b"rent".to_vec();
    run(ALICE, 0, Command::Transfer { asset: Asset::Native, to: BOB, amount: 300, memo: memo.clone() }).unwrap();
    let effects = run(BOB, 0, Command::Withdraw { amount: 100, to: ALICE }).unwrap();
    assert_eq!(effects.released, vec![(ALICE, 100)]);
    assert_eq!(effects.events.len(), 1);

    let native = |who| ask::<u128>(who, Query::Balance { owner: who, asset: Asset::Native }).unwrap();
    assert_eq!((native(ALICE), native(BOB)), (700, 200));
    assert_eq!(ask::<u128>(BOB, Query::Locked).unwrap(), 900, "locked equals the sum of balances");
    let history: Vec<Record> = ask(BOB, Query::History { owner: BOB, from: 0, limit: 10 }).unwrap();
    assert_eq!(history[0].change, Change::Received(ALICE));
    assert_eq!(history[0].memo, memo);
    assert_eq!(history[1].change, Change::Withdrawn(ALICE));
}

#[test]
fn balances_and_history_answer_their_owner_only() {
    fresh();
    run(ALICE, 50, Command::Deposit).unwrap();
    let refusal = ask::<u128>(BOB, Query::Balance { owner: ALICE, asset: Asset::Native }).unwrap_err();
    assert!(refusal.contains("only the owner"), "{refusal}");
    assert!(ask::<Vec<Record>>(BOB, Query::History { owner: ALICE, from: 0, limit: 1 }).is_err());
}

#[test]
fn issued_tokens_move_and_burn_within_their_supply() {
    fresh();
    run(BOB, 0, Command::Issue { symbol: b"GOLD".to_vec(), supply: 1_000 }).unwrap();
    run(BOB, 0, Command::Transfer { asset: Asset::Token(0), to: ALICE, amount: 10, memo: Vec::new() }).unwrap();
    run(ALICE, 0, Command::Destroy { token: 0, amount: 4 }).unwrap();
    let info: TokenInfo = ask(ALICE, Query::Token { token: 0 }).unwrap();
    assert_eq!((info.symbol.as_slice(), info.issuer, info.supply), (&b"GOLD"[..], BOB, 996));
    assert_eq!(ask::<u128>(ALICE, Query::Balance { owner: ALICE, asset: Asset::Token(0) }).unwrap(), 6);
}

#[test]
fn refused_commands_change_nothing() {
    fresh();
    run(ALICE, 10, Command::Deposit).unwrap();
    let before = TestHost::storage();
    let transfer = |amount| Command::Transfer { asset: Asset::Native, to: BOB, amount, memo: Vec::new() };
    for (value, command, why) in [
        (0, transfer(11), "insufficient"),
        (0, transfer(0), "move something"),
        (5, transfer(1), "only Deposit"),
        (0, Command::Deposit, "must carry"),
        (0, Command::Withdraw { amount: 11, to: ALICE }, "insufficient"),
        (0, Command::Issue { symbol: b"bad symbol".to_vec(), supply: 1 }, "symbol"),
        (0, Command::Destroy { token: 7, amount: 1 }, "no token"),
        (0, Command::Transfer { asset: Asset::Native, to: BOB, amount: 1, memo: vec![0; MAX_MEMO + 1] }, "memo"),
    ] {
        let reason = run(ALICE, value, command).unwrap_err();
        assert!(reason.contains(why), "{reason} should say {why}");
        assert_eq!(TestHost::storage(), before);
    }
}

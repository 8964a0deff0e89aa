use super::*;
use parity_scale_codec::Encode;
use proptest::prelude::*;
use veil_secret_token::{Asset, Change, Command, Query, Record, TokenInfo};

fn token() -> Interface {
    Interface::from_json(include_str!("../../../../contracts/secret-token/interface.json")).unwrap()
}

fn bob() -> AccountId {
    veil_crypto::AccountPair::from_suri("//Bob", None).unwrap().public()
}

fn sdk(account: AccountId) -> veil_contract_sdk::AccountId {
    veil_contract_sdk::AccountId(account.0)
}

/// The interface file says exactly what the contract's Rust types encode: it cannot drift.
#[test]
fn the_secret_token_interface_matches_its_rust_types() {
    let interface = token();
    let transfer = json!({ "Transfer": { "asset": { "Token": 7 }, "to": "//Bob", "amount": "25", "memo": "lunch" } });
    let expected = Command::Transfer { asset: Asset::Token(7), to: sdk(bob()), amount: 25, memo: b"lunch".to_vec() };
    assert_eq!(interface.encode_command(&transfer).unwrap(), expected.encode());
    assert_eq!(interface.encode_command(&json!("Deposit")).unwrap(), Command::Deposit.encode());
    let withdraw = json!({ "Withdraw": { "amount": 3, "to": bob().to_string() } });
    assert_eq!(interface.encode_command(&withdraw).unwrap(), Command::Withdraw { amount: 3, to: sdk(bob()) }.encode());
    let issue = json!({ "Issue": { "symbol": "GOLD", "supply": "1000000" } });
    assert_eq!(
        interface.encode_command(&issue).unwrap(),
        Command::Issue { symbol: b"GOLD".to_vec(), supply: 1_000_000 }.encode()
    );
    let destroy = json!({ "Destroy": { "token": 1, "amount": 2 } });
    assert_eq!(interface.encode_command(&destroy).unwrap(), Command::Destroy { token: 1, amount: 2 }.encode());

    let balance = json!({ "Balance": { "owner": "//Bob", "asset": "Native" } });
    assert_eq!(
        interface.encode_query(&balance).unwrap(),
        Query::Balance { owner: sdk(bob()), asset: Asset::Native }.encode()
    );
    assert_eq!(interface.encode_query(&json!("Locked")).unwrap(), Query::Locked.encode());
    assert_eq!(interface.decode_answer(&balance, &700u128.encode()).unwrap(), Some(json!("700")));

    let history = vec![Record {
        change: Change::Sent(sdk(bob())),
        asset: Asset::Native,
        amount: 5,
        memo: b"hi".to_vec(),
        height: 9,
    }];
    let query = json!({ "History": { "owner": "//Bob", "from": 0, "limit": 10 } });
    assert_eq!(
        interface.decode_answer(&query, &history.encode()).unwrap(),
        Some(
            json!([{ "change": { "Sent": bob().to_string() }, "asset": "Native", "amount": "5", "memo": "hi", "height": "9" }])
        )
    );
    let info = TokenInfo { symbol: b"GOLD".to_vec(), issuer: sdk(bob()), supply: 10 };
    assert_eq!(
        interface.decode_answer(&json!({ "Token": { "token": 1 } }), &info.encode()).unwrap(),
        Some(json!({ "symbol": "GOLD", "issuer": bob().to_string(), "supply": "10" }))
    );
    assert_eq!(interface.commands(), ["Deposit", "Transfer", "Withdraw", "Issue", "Destroy"]);
    assert_eq!(interface.queries(), ["Balance", "History", "Token", "Locked"]);
}

/// Bad values are refused with a message naming what is wrong.
#[test]
fn bad_values_say_what_is_wrong() {
    let interface = token();
    let cases = [
        (json!("Steal"), "has no variant \"Steal\"; it has: Deposit, Transfer"),
        (json!({ "Transfer": { "asset": "Native", "to": "//Bob", "amount": 1 } }), "missing field \"memo\""),
        (json!({ "Withdraw": { "amount": 1, "to": "//Bob", "extra": 1 } }), "has no field \"extra\""),
        (json!({ "Withdraw": { "amount": -1, "to": "//Bob" } }), "expected a u128"),
        (json!({ "Withdraw": { "amount": 1, "to": "5Fnot-an-address" } }), "expected an account"),
        (json!({ "Destroy": { "token": 4_294_967_296u64, "amount": 1 } }), "does not fit in a u32"),
        (json!("Transfer"), "takes fields"),
        (json!(17), "expected a Command"),
    ];
    for (value, expected) in cases {
        let error = interface.encode_command(&value).unwrap_err().to_string();
        assert!(error.contains(expected), "{value}: {error}");
    }
    assert!(interface.decode("u128", &[1, 2]).is_err());
    assert!(interface.decode("u32", &[1, 2, 3, 4, 5]).unwrap_err().to_string().contains("left over"));
}

#[test]
fn descriptions_are_checked() {
    let cases = [
        (r#"{"name":"x","command":"Missing","query":"()"}"#, "Missing is used but not defined"),
        (r#"{"name":"x","command":"()","query":"Vec<"}"#, "is not a type"),
        (r#"{"name":"x","query":"()"}"#, "no \"command\""),
        (
            r#"{"name":"x","command":"E","query":"()","types":{"E":{"enum":[{"name":"A","index":0},{"name":"B","index":0}]}}}"#,
            "repeats",
        ),
        (r#"{"name":"x","command":"E","query":"()","types":{"E":{"union":[]}}}"#, "neither an enum nor a struct"),
        ("not json", "not JSON"),
    ];
    for (text, expected) in cases {
        let error = Interface::from_json(text).unwrap_err().to_string();
        assert!(error.contains(expected), "{text}: {error}");
    }
}

#[test]
fn custom_sections_are_found_and_bad_modules_refused() {
    // A module with a custom section "other", then "veil:interface" holding "{}".
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    for (name, content) in [(&b"other"[..], &b"xx"[..]), (SECTION.as_bytes(), &b"{}"[..])] {
        let mut payload = vec![u8::try_from(name.len()).unwrap()];
        payload.extend_from_slice(name);
        payload.extend_from_slice(content);
        module.push(0);
        module.push(u8::try_from(payload.len()).unwrap());
        module.extend_from_slice(&payload);
    }
    assert_eq!(custom_section(&module, SECTION).unwrap(), Some(&b"{}"[..]));
    assert_eq!(custom_section(&module, "absent").unwrap(), None);
    assert!(custom_section(b"\0asm\x01\0\0\0\x00\x7f", SECTION).is_err(), "a section longer than the module");
    assert!(custom_section(b"garbage!", SECTION).is_err());
}

proptest! {
    /// Whatever bytes arrive, decoding answers returns a value or an error: no panic, no runaway
    /// allocation.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let interface = token();
        for ty in ["Vec<Record>", "TokenInfo", "Command", "Query", "Option<Asset>", "u128", "Text"] {
            let _ = interface.decode(ty, &bytes);
        }
        let _ = custom_section(&bytes, SECTION);
    }

    /// Encoding a decoded value gives the same bytes back.
    #[test]
    fn decode_then_encode_round_trips(amount in any::<u128>(), memo in "[a-z ]{0,40}", number in any::<u32>(), height in any::<u64>()) {
        let interface = token();
        let record = Record { change: Change::Received(sdk(bob())), asset: Asset::Token(number), amount, memo: memo.into_bytes(), height };
        let value = interface.decode("Record", &record.encode()).unwrap();
        prop_assert_eq!(interface.encode("Record", &value).unwrap(), record.encode());
    }
}

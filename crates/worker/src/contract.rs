//! Contracts as the runtime runs them: the [`Contract`] trait and the built-in contracts.
//!
//! A contract sees only decrypted commands in block order (with the caller, the block that
//! included the command, the prepaid fuel and the native tokens sent along), answers queries for an
//! authenticated requester, and hands its whole state to the runtime as bytes, which the runtime
//! seals into its checkpoints and commits to in its state root. Execution must be deterministic:
//! every worker of a cluster runs the same commands and must reach the same state and use the same
//! fuel, so contracts use no clock, no ambient randomness and no hash maps. A command that fails
//! changes nothing.
//!
//! Two kinds implement the trait: built-in contracts in native Rust, identified by
//! [`builtin_code_hash`] ([`instantiate`]), and wasm contracts ([`crate::wasm::WasmContract`]),
//! identified by the SHA-256 of their module.

use parity_scale_codec::{Decode, DecodeAll, Encode, MaxEncodedLen};
use std::collections::BTreeMap;
pub use veil_contract_engine::{Effects, Failure, Peer, Peers, abi::Caller};
use veil_primitives::{
    AccountId, ContractId, Hash,
    codec::{BoundedBytes, BoundedVec},
    contract::{BlockStamp, builtin_code_hash},
    decode_strict,
};

/// What a command is executed with.
#[derive(Clone, Copy, Debug)]
pub struct CommandContext {
    /// The contract.
    pub contract: ContractId,
    /// The account that signed the carrying transaction, or the contract that sent the message.
    pub caller: Caller,
    /// The block that included the command (for a contract's message: the sender's block).
    pub block: BlockStamp,
    /// The fuel the sender prepaid: the most the command may use.
    pub fuel: u64,
    /// Native tokens sent along, locked in the contract by the chain.
    pub value: u128,
    /// Unique per command: separates the randomness of commands in one block.
    pub call_id: [u8; 32],
}

/// What executing a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRun {
    /// Fuel used, charged whatever the result.
    pub fuel_used: u64,
    /// The effects to carry out, or why it failed (then the state is as before the call).
    pub result: Result<Effects, Failure>,
}

/// A confidential contract.
pub trait Contract: Send + Sync {
    /// The code hash answers name.
    fn code(&self) -> Hash;

    /// Executes one decrypted command; `peers` are the other contracts of its cluster. On failure
    /// the state must be as before the call.
    fn command(&mut self, context: &CommandContext, command: &[u8], peers: &Peers) -> CommandRun;

    /// Answers a query from an authenticated `requester` at `block`; `Err` is a refusal with its
    /// reason.
    fn query(&self, requester: &AccountId, block: BlockStamp, query: &[u8], peers: &Peers) -> Result<Vec<u8>, String>;

    /// The whole state, for sealing and the state root; restoring from it gives the same contract.
    fn state(&self) -> Vec<u8>;

    /// What other contracts of the cluster call: `None` for contracts that take no calls from others.
    fn peer(&self) -> Option<Peer> {
        None
    }

    /// Moves the contract to the keys of a new epoch: from here on its state is encrypted and its
    /// secrets derived under `key`. Contracts that hold no derived keys ignore it.
    fn rekey(&mut self, key: &veil_crypto::ContractKey) {
        let _ = key;
    }
}

/// A built-in contract of code `code`, empty or restored from `state`. `None` for code this runtime
/// does not have built in.
pub fn instantiate(code: &Hash, state: Option<&[u8]>) -> Option<Result<Box<dyn Contract>, String>> {
    if *code == Notes::code_hash() {
        return Some(Notes::restore(state).map(|notes| Box::new(notes) as Box<dyn Contract>));
    }
    None
}

/// The longest note, in bytes.
pub const MAX_NOTE: usize = 1024;
/// The most notes one account keeps.
pub const MAX_NOTES: usize = 64;

/// A command to [`Notes`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum NotesCommand {
    /// Append a note to the sender's notes.
    #[codec(index = 0)]
    Add(BoundedBytes<MAX_NOTE>),
    /// Delete all of the sender's notes.
    #[codec(index = 1)]
    Clear,
}

/// A query to [`Notes`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub enum NotesQuery {
    /// The notes of `owner`: answered to the owner only.
    #[codec(index = 0)]
    Notes {
        /// Whose notes.
        owner: AccountId,
    },
}

/// One account's notes.
pub type NoteList = BoundedVec<BoundedBytes<MAX_NOTE>, MAX_NOTES>;

/// The built-in private notes contract: each account adds notes by command, and only the owner may
/// read them back. The chain sees only ciphertext.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Notes {
    notes: BTreeMap<AccountId, NoteList>,
}

impl Notes {
    /// Its code hash: [`builtin_code_hash`]`("notes")`.
    pub fn code_hash() -> Hash {
        builtin_code_hash("notes")
    }

    fn execute(&mut self, context: &CommandContext, command: &[u8]) -> Result<Effects, String> {
        let Caller::Account(sender) = context.caller else {
            return Err("notes take commands from accounts only".into());
        };
        if context.value != 0 {
            return Err("notes take no native tokens".into());
        }
        let sender = AccountId(sender.0);
        let command: NotesCommand = decode_strict(command).map_err(|error| error.to_string())?;
        match command {
            NotesCommand::Add(note) => {
                let list = self.notes.entry(sender).or_default();
                list.try_push(note).map_err(|_| format!("an account keeps at most {MAX_NOTES} notes"))?;
            }
            NotesCommand::Clear => {
                self.notes.remove(&sender);
            }
        }
        Ok(Effects::default())
    }

    fn restore(state: Option<&[u8]>) -> Result<Self, String> {
        match state {
            None => Ok(Self::default()),
            Some(bytes) => Self::decode_all(&mut &bytes[..]).map_err(|error| format!("notes state: {error}")),
        }
    }
}

impl Contract for Notes {
    fn code(&self) -> Hash {
        Self::code_hash()
    }

    fn command(&mut self, context: &CommandContext, command: &[u8], _peers: &Peers) -> CommandRun {
        CommandRun { fuel_used: 0, result: self.execute(context, command).map_err(Failure::Refused) }
    }

    fn query(
        &self,
        requester: &AccountId,
        _block: BlockStamp,
        query: &[u8],
        _peers: &Peers,
    ) -> Result<Vec<u8>, String> {
        let NotesQuery::Notes { owner } = decode_strict(query).map_err(|error| error.to_string())?;
        if owner != *requester {
            return Err(format!("only {owner} may read their notes"));
        }
        Ok(self.notes.get(&owner).cloned().unwrap_or_default().encode())
    }

    fn state(&self) -> Vec<u8> {
        self.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use veil_contract_engine::abi::AccountId as AbiAccount;

    fn context(sender: u8) -> CommandContext {
        CommandContext {
            contract: ContractId([1; 32]),
            caller: Caller::Account(AbiAccount([sender; 32])),
            block: BlockStamp::default(),
            fuel: 0,
            value: 0,
            call_id: [0; 32],
        }
    }

    fn run(notes: &mut dyn Contract, sender: u8, command: &[u8]) -> Result<Effects, Failure> {
        notes.command(&context(sender), command, &Peers::default()).result
    }

    fn ask(notes: &dyn Contract, requester: u8, owner: u8) -> Result<Vec<u8>, String> {
        let query = NotesQuery::Notes { owner: AccountId([owner; 32]) }.encode();
        notes.query(&AccountId([requester; 32]), BlockStamp::default(), &query, &Peers::default())
    }

    fn add(note: &[u8]) -> Vec<u8> {
        NotesCommand::Add(note.to_vec().try_into().unwrap()).encode()
    }

    #[test]
    fn notes_are_read_by_their_owner_only_and_survive_a_restore() {
        let mut notes = instantiate(&Notes::code_hash(), None).unwrap().unwrap();
        run(notes.as_mut(), 1, &add(b"first")).unwrap();
        run(notes.as_mut(), 1, &add(b"second")).unwrap();
        run(notes.as_mut(), 2, &add(b"bob's")).unwrap();
        let list: NoteList = decode_strict(&ask(notes.as_ref(), 1, 1).unwrap()).unwrap();
        assert_eq!(list.iter().map(|n| n.to_vec()).collect::<Vec<_>>(), vec![b"first".to_vec(), b"second".to_vec()]);
        let refusal = ask(notes.as_ref(), 2, 1).unwrap_err();
        assert!(refusal.contains("only"), "{refusal}");

        let restored = instantiate(&Notes::code_hash(), Some(&notes.state())).unwrap().unwrap();
        assert_eq!(restored.state(), notes.state());
        run(notes.as_mut(), 1, &NotesCommand::Clear.encode()).unwrap();
        let list: NoteList = decode_strict(&ask(notes.as_ref(), 1, 1).unwrap()).unwrap();
        assert!(list.is_empty());
    }

    #[test]
    fn bad_commands_change_nothing() {
        let mut notes = instantiate(&Notes::code_hash(), None).unwrap().unwrap();
        for _ in 0..MAX_NOTES {
            run(notes.as_mut(), 1, &add(b"n")).unwrap();
        }
        let before = notes.state();
        let refused = |result: Result<Effects, Failure>, needle: &str| matches!(result, Err(Failure::Refused(reason)) if reason.contains(needle));
        assert!(refused(run(notes.as_mut(), 1, &add(b"one too many")), "at most"));
        assert!(refused(run(notes.as_mut(), 1, &[7, 7, 7]), ""));
        let mut paid = context(1);
        paid.value = 5;
        assert!(refused(notes.command(&paid, &add(b"n"), &Peers::default()).result, "native tokens"));
        assert_eq!(notes.state(), before);
        assert!(instantiate(&Hash([0; 32]), None).is_none(), "unknown code");
        assert!(instantiate(&Notes::code_hash(), Some(&[1, 2, 3])).unwrap().is_err(), "corrupt state");
    }
}

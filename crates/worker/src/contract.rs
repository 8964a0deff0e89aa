//! Contracts as the runtime runs them: the [`Contract`] trait and the built-in contracts.
//!
//! A contract sees only decrypted commands in block order (with the signing account and the
//! height), answers queries for an authenticated requester, and hands its whole state to the
//! runtime as bytes, which the runtime seals into its checkpoints. Execution must be deterministic:
//! every worker of a cluster runs the same commands and must reach the same state, so contracts use
//! no clock, no randomness and no hash maps. A command that fails changes nothing.
//!
//! Built-in contracts are native Rust, identified by [`builtin_code_hash`]; the wasm engine
//! implements the same trait.

use parity_scale_codec::{Decode, DecodeAll, Encode, MaxEncodedLen};
use std::collections::BTreeMap;
use veil_primitives::{
    AccountId, ContractId, Hash, Topic,
    codec::{BoundedBytes, BoundedVec},
    contract::builtin_code_hash,
    decode_strict,
};

/// What a command is executed with.
#[derive(Clone, Copy, Debug)]
pub struct CommandContext {
    /// The contract.
    pub contract: ContractId,
    /// The account that signed the carrying transaction.
    pub sender: AccountId,
}

/// A message a contract sends: signed with the contract's key and sent as egress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractEgress {
    /// Where it is published.
    pub topic: Topic,
    /// What it says.
    pub payload: Vec<u8>,
}

/// A confidential contract.
pub trait Contract: Send + Sync {
    /// The code hash answers name.
    fn code(&self) -> Hash;

    /// Executes one decrypted command. On `Err` the state must be as before the call.
    fn command(&mut self, context: &CommandContext, command: &[u8]) -> Result<Vec<ContractEgress>, String>;

    /// Answers a query from an authenticated `requester`; `Err` is a refusal with its reason.
    fn query(&self, requester: &AccountId, query: &[u8]) -> Result<Vec<u8>, String>;

    /// The whole state, for sealing; [`instantiate`] restores it.
    fn state(&self) -> Vec<u8>;
}

/// A built-in contract of code `code`, empty or restored from `state`. `None` for code this runtime
/// does not have.
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

    fn command(&mut self, context: &CommandContext, command: &[u8]) -> Result<Vec<ContractEgress>, String> {
        let command: NotesCommand = decode_strict(command).map_err(|error| error.to_string())?;
        match command {
            NotesCommand::Add(note) => {
                let list = self.notes.entry(context.sender).or_default();
                list.try_push(note).map_err(|_| format!("an account keeps at most {MAX_NOTES} notes"))?;
            }
            NotesCommand::Clear => {
                self.notes.remove(&context.sender);
            }
        }
        Ok(Vec::new())
    }

    fn query(&self, requester: &AccountId, query: &[u8]) -> Result<Vec<u8>, String> {
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

    fn context(sender: u8) -> CommandContext {
        CommandContext { contract: ContractId([1; 32]), sender: AccountId([sender; 32]) }
    }

    fn add(note: &[u8]) -> Vec<u8> {
        NotesCommand::Add(note.to_vec().try_into().unwrap()).encode()
    }

    #[test]
    fn notes_are_read_by_their_owner_only_and_survive_a_restore() {
        let mut notes = instantiate(&Notes::code_hash(), None).unwrap().unwrap();
        notes.command(&context(1), &add(b"first")).unwrap();
        notes.command(&context(1), &add(b"second")).unwrap();
        notes.command(&context(2), &add(b"bob's")).unwrap();
        let ask = |owner: u8| NotesQuery::Notes { owner: AccountId([owner; 32]) }.encode();
        let list: NoteList = decode_strict(&notes.query(&AccountId([1; 32]), &ask(1)).unwrap()).unwrap();
        assert_eq!(list.iter().map(|n| n.to_vec()).collect::<Vec<_>>(), vec![b"first".to_vec(), b"second".to_vec()]);
        let refusal = notes.query(&AccountId([2; 32]), &ask(1)).unwrap_err();
        assert!(refusal.contains("only"), "{refusal}");

        let restored = instantiate(&Notes::code_hash(), Some(&notes.state())).unwrap().unwrap();
        assert_eq!(restored.state(), notes.state());
        notes.command(&context(1), &NotesCommand::Clear.encode()).unwrap();
        let list: NoteList = decode_strict(&notes.query(&AccountId([1; 32]), &ask(1)).unwrap()).unwrap();
        assert!(list.is_empty());
    }

    #[test]
    fn bad_commands_change_nothing() {
        let mut notes = instantiate(&Notes::code_hash(), None).unwrap().unwrap();
        for _ in 0..MAX_NOTES {
            notes.command(&context(1), &add(b"n")).unwrap();
        }
        let before = notes.state();
        assert!(notes.command(&context(1), &add(b"one too many")).unwrap_err().contains("at most"));
        assert!(notes.command(&context(1), &[7, 7, 7]).is_err());
        assert_eq!(notes.state(), before);
        assert!(instantiate(&Hash([0; 32]), None).is_none(), "unknown code");
        assert!(instantiate(&Notes::code_hash(), Some(&[1, 2, 3])).unwrap().is_err(), "corrupt state");
    }
}

//! The contract's storage: bytes under byte keys, with typed helpers. Values are SCALE-encoded.
//!
//! Storage is private to the contract and kept by the runtime encrypted under the contract's state
//! key. A value that does not decode as the type asked means the contract read its own storage with
//! the wrong type: a bug, so it traps (and the command changes nothing).

use crate::host;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, DecodeAll, Encode};

/// The raw value under `key`.
pub fn get_raw(key: &[u8]) -> Option<Vec<u8>> {
    host::storage_get(key)
}

/// Stores `value` under `key`.
pub fn set_raw(key: &[u8], value: &[u8]) {
    host::storage_set(key, value)
}

/// Removes `key`.
pub fn remove(key: &[u8]) {
    host::storage_remove(key)
}

/// The value of type `T` under `key`.
pub fn get<T: Decode>(key: &[u8]) -> Option<T> {
    get_raw(key).map(|bytes| match T::decode_all(&mut &bytes[..]) {
        Ok(value) => value,
        Err(_) => panic!("storage value does not decode as the type read"),
    })
}

/// Stores `value` under `key`.
pub fn set<T: Encode>(key: &[u8], value: &T) {
    set_raw(key, &value.encode())
}

/// A typed map in storage: the key of entry `k` is `prefix ++ encode(k)`.
pub struct Map<K, V> {
    prefix: &'static [u8],
    _types: core::marker::PhantomData<(K, V)>,
}

impl<K: Encode, V: Encode + Decode> Map<K, V> {
    /// A map under `prefix`; prefixes of two maps must not be prefixes of each other.
    pub const fn new(prefix: &'static [u8]) -> Self {
        Self { prefix, _types: core::marker::PhantomData }
    }

    fn key(&self, key: &K) -> Vec<u8> {
        let mut bytes = self.prefix.to_vec();
        key.encode_to(&mut bytes);
        bytes
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        get(&self.key(key))
    }

    /// Stores `value` under `key`.
    pub fn insert(&self, key: &K, value: &V) {
        set(&self.key(key), value)
    }

    /// Removes `key`.
    pub fn remove(&self, key: &K) {
        remove(&self.key(key))
    }
}

//! A contract's interface: which commands, queries and answers it speaks, so tools can encode and
//! decode them as JSON without the contract's Rust types.
//!
//! A contract ships its interface as JSON in a wasm custom section named [`SECTION`] (the SDK's
//! `interface!` macro puts it there), so it travels with the code, on chain, under the code hash.
//! The description:
//!
//! ```json
//! {
//!   "name": "secret-token",
//!   "init": "()",
//!   "command": "Command",
//!   "query": "Query",
//!   "answers": { "Balance": "u128" },
//!   "types": {
//!     "Asset": { "enum": [ { "name": "Native", "index": 0 }, { "name": "Token", "index": 1, "fields": ["u32"] } ] },
//!     "Query": { "enum": [ { "name": "Balance", "index": 0,
//!                            "fields": [ { "name": "owner", "type": "AccountId" }, { "name": "asset", "type": "Asset" } ] } ] }
//!   }
//! }
//! ```
//!
//! Types are `()`, `bool`, `u8` … `u128`, `AccountId`, `Hash` (32 bytes), `Bytes` (a `Vec<u8>`
//! shown as hex), `Text` (a `Vec<u8>` or `String` shown as UTF-8), `Vec<T>`, `Option<T>`, and
//! named types: an `enum` (variants with their SCALE index and unnamed or named fields, in order)
//! or a `struct` (named fields, in order). `answers` names each query variant's answer type.
//!
//! JSON values: numbers as JSON numbers or decimal strings (`u64` and `u128` are written as
//! strings); accounts as SS58, `0x` hex or a development URI such as `//Bob`; unit variants as
//! their name (`"Native"`); other variants as `{"Name": fields}` where fields are an object for
//! named fields, the value for one unnamed field, or an array for several.

use parity_scale_codec::{Compact, Decode as _, Encode as _, Input as _};
use serde_json::{Map, Value, json};
use std::{collections::BTreeMap, str::FromStr};
use veil_primitives::{AccountId, contract::custom_section};

use crate::{Error, hex0x, unhex};

/// The name of the wasm custom section holding a contract's interface.
pub use veil_primitives::contract::INTERFACE_SECTION as SECTION;
/// The deepest type nesting accepted (bounds recursion on hostile descriptions and values).
const MAX_DEPTH: usize = 32;

/// A contract's interface description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The contract's name.
    pub name: String,
    init: String,
    command: String,
    query: String,
    answers: BTreeMap<String, String>,
    types: BTreeMap<String, TypeDef>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TypeDef {
    Enum(Vec<Variant>),
    Struct(Vec<(String, String)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Variant {
    name: String,
    index: u8,
    fields: Fields,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Fields {
    Unnamed(Vec<String>),
    Named(Vec<(String, String)>),
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

impl Interface {
    /// Parses and checks a description: every type it names must exist.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(text).map_err(|e| invalid(format!("interface: not JSON: {e}")))?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("interface: no {name:?}")))
        };
        let mut answers = BTreeMap::new();
        if let Some(map) = value.get("answers").and_then(Value::as_object) {
            for (variant, ty) in map {
                let ty = ty.as_str().ok_or_else(|| invalid(format!("interface: answer of {variant} is not a type")))?;
                answers.insert(variant.clone(), ty.to_owned());
            }
        }
        let mut types = BTreeMap::new();
        for (name, def) in value.get("types").and_then(Value::as_object).into_iter().flatten() {
            types.insert(name.clone(), parse_type_def(name, def)?);
        }
        let interface = Self {
            name: field("name")?,
            init: value.get("init").and_then(Value::as_str).unwrap_or("()").to_owned(),
            command: field("command")?,
            query: field("query")?,
            answers,
            types,
        };
        interface.check()?;
        Ok(interface)
    }

    /// The interface embedded in a wasm module, if it has one.
    pub fn from_wasm(module: &[u8]) -> Result<Option<Self>, Error> {
        custom_section(module, SECTION)
            .map_err(|error| Error::Malformed(error.to_string()))?
            .map(|bytes| {
                let text = std::str::from_utf8(bytes).map_err(|_| invalid("interface: the section is not UTF-8"))?;
                Self::from_json(text)
            })
            .transpose()
    }

    fn check(&self) -> Result<(), Error> {
        let mut named: Vec<&str> = vec![&self.init, &self.command, &self.query];
        named.extend(self.answers.values().map(String::as_str));
        for def in self.types.values() {
            match def {
                TypeDef::Struct(fields) => named.extend(fields.iter().map(|(_, ty)| ty.as_str())),
                TypeDef::Enum(variants) => {
                    for variant in variants {
                        match &variant.fields {
                            Fields::Unnamed(types) => named.extend(types.iter().map(String::as_str)),
                            Fields::Named(fields) => named.extend(fields.iter().map(|(_, ty)| ty.as_str())),
                        }
                    }
                }
            }
        }
        for ty in named {
            self.resolve(ty, 0)?;
        }
        Ok(())
    }

    /// Checks that `ty` is a known type expression.
    fn resolve(&self, ty: &str, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!("interface: type {ty} nests too deeply")));
        }
        match Type::parse(ty)? {
            Type::Vec(inner) | Type::Option(inner) => self.resolve(inner, depth + 1),
            Type::Named(name) if !self.types.contains_key(name) => {
                Err(invalid(format!("interface: type {name} is used but not defined")))
            }
            _ => Ok(()),
        }
    }

    /// The command variants' names.
    pub fn commands(&self) -> Vec<String> {
        self.variant_names(&self.command)
    }

    /// The query variants' names.
    pub fn queries(&self) -> Vec<String> {
        self.variant_names(&self.query)
    }

    fn variant_names(&self, ty: &str) -> Vec<String> {
        match self.types.get(ty) {
            Some(TypeDef::Enum(variants)) => variants.iter().map(|v| v.name.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// SCALE-encodes a constructor argument given as JSON.
    pub fn encode_init(&self, value: &Value) -> Result<Vec<u8>, Error> {
        self.encode(&self.init, value)
    }

    /// SCALE-encodes a command given as JSON.
    pub fn encode_command(&self, value: &Value) -> Result<Vec<u8>, Error> {
        self.encode(&self.command, value)
    }

    /// SCALE-encodes a query given as JSON.
    pub fn encode_query(&self, value: &Value) -> Result<Vec<u8>, Error> {
        self.encode(&self.query, value)
    }

    /// Decodes the answer to `query` (the JSON it was encoded from) as JSON; `None` when the
    /// interface names no answer type for that query.
    pub fn decode_answer(&self, query: &Value, answer: &[u8]) -> Result<Option<Value>, Error> {
        let variant = match query {
            Value::String(name) => name.as_str(),
            Value::Object(map) if map.len() == 1 => map.keys().next().map_or("", String::as_str),
            _ => return Ok(None),
        };
        let Some(ty) = self.answers.get(variant) else { return Ok(None) };
        self.decode(ty, answer).map(Some)
    }

    /// SCALE-encodes `value` as type `ty`.
    pub fn encode(&self, ty: &str, value: &Value) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.encode_into(ty, value, &mut out, 0)?;
        Ok(out)
    }

    /// Decodes `bytes` as type `ty`, all of them.
    pub fn decode(&self, ty: &str, bytes: &[u8]) -> Result<Value, Error> {
        let mut input = bytes;
        let value = self.decode_from(ty, &mut input, 0)?;
        if !input.is_empty() {
            return Err(Error::Malformed(format!("{} bytes left over after a {ty}", input.len())));
        }
        Ok(value)
    }

    fn encode_into(&self, ty: &str, value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(invalid("the value nests too deeply"));
        }
        let wrong = || invalid(format!("expected a {ty}, got {value}"));
        match Type::parse(ty)? {
            Type::Unit => match value {
                Value::Null => {}
                Value::Array(items) if items.is_empty() => {}
                _ => return Err(wrong()),
            },
            Type::Bool => value.as_bool().ok_or_else(wrong)?.encode_to(out),
            Type::Uint(bits) => {
                let number = integer(value).ok_or_else(wrong)?;
                if bits < 128 && number >> bits != 0 {
                    return Err(invalid(format!("{number} does not fit in a {ty}")));
                }
                out.extend_from_slice(&number.to_le_bytes()[..bits / 8]);
            }
            Type::Account => account(value)
                .ok_or_else(|| invalid(format!("expected an account (SS58, 0x hex or //Name), got {value}")))?
                .encode_to(out),
            Type::Hash => {
                let bytes: [u8; 32] =
                    value.as_str().map(unhex).transpose()?.and_then(|b| b.try_into().ok()).ok_or_else(wrong)?;
                out.extend_from_slice(&bytes);
            }
            Type::Bytes => value.as_str().map(unhex).transpose()?.ok_or_else(wrong)?.encode_to(out),
            Type::Text => value.as_str().ok_or_else(wrong)?.as_bytes().encode_to(out),
            Type::Vec(inner) => {
                let items = value.as_array().ok_or_else(wrong)?;
                Compact(u32::try_from(items.len()).map_err(|_| wrong())?).encode_to(out);
                for item in items {
                    self.encode_into(inner, item, out, depth + 1)?;
                }
            }
            Type::Option(inner) => {
                if value.is_null() {
                    out.push(0);
                } else {
                    out.push(1);
                    self.encode_into(inner, value, out, depth + 1)?;
                }
            }
            Type::Named(name) => match self.types.get(name).ok_or_else(|| invalid(format!("unknown type {name}")))? {
                TypeDef::Struct(fields) => self.encode_named(name, fields, value, out, depth)?,
                TypeDef::Enum(variants) => self.encode_variant(name, variants, value, out, depth)?,
            },
        }
        Ok(())
    }

    fn encode_named(
        &self,
        owner: &str,
        fields: &[(String, String)],
        value: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), Error> {
        let map =
            value.as_object().ok_or_else(|| invalid(format!("{owner}: expected an object with {}", names(fields))))?;
        if let Some(unknown) = map.keys().find(|key| !fields.iter().any(|(name, _)| name == *key)) {
            return Err(invalid(format!("{owner} has no field {unknown:?}; its fields: {}", names(fields))));
        }
        for (name, ty) in fields {
            let field = map.get(name).ok_or_else(|| invalid(format!("{owner}: missing field {name:?} ({ty})")))?;
            self.encode_into(ty, field, out, depth + 1)?;
        }
        Ok(())
    }

    fn encode_variant(
        &self,
        owner: &str,
        variants: &[Variant],
        value: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), Error> {
        let choices = || variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ");
        let (name, fields) = match value {
            Value::String(name) => (name.as_str(), None),
            Value::Object(map) if map.len() == 1 => {
                map.iter().next().map(|(k, v)| (k.as_str(), Some(v))).unwrap_or(("", None))
            }
            _ => return Err(invalid(format!("expected a {owner} ({}), got {value}", choices()))),
        };
        let variant = variants
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| invalid(format!("{owner} has no variant {name:?}; it has: {}", choices())))?;
        out.push(variant.index);
        let what = format!("{owner}::{name}");
        match (&variant.fields, fields) {
            (Fields::Unnamed(types), None) if types.is_empty() => Ok(()),
            (Fields::Named(fields), None) if fields.is_empty() => Ok(()),
            (Fields::Unnamed(types), Some(value)) => {
                let items = match (types.len(), value) {
                    (1, value) => vec![value.clone()],
                    (_, Value::Array(items)) => items.clone(),
                    _ => return Err(invalid(format!("{what}: expected an array of {} values", types.len()))),
                };
                if items.len() != types.len() {
                    return Err(invalid(format!("{what}: expected {} values, got {}", types.len(), items.len())));
                }
                types.iter().zip(&items).try_for_each(|(ty, item)| self.encode_into(ty, item, out, depth + 1))
            }
            (Fields::Named(fields), Some(value)) => self.encode_named(&what, fields, value, out, depth),
            (Fields::Unnamed(types), None) => {
                Err(invalid(format!("{what} takes {} values: {{\"{name}\": ...}}", types.len())))
            }
            (Fields::Named(fields), None) => {
                Err(invalid(format!("{what} takes fields {}: {{\"{name}\": {{...}}}}", names(fields))))
            }
        }
    }

    fn decode_from(&self, ty: &str, input: &mut &[u8], depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Malformed("the value nests too deeply".into()));
        }
        let short = |_| Error::Malformed(format!("a {ty} ends early or is malformed"));
        Ok(match Type::parse(ty)? {
            Type::Unit => Value::Null,
            Type::Bool => json!(bool::decode(input).map_err(short)?),
            Type::Uint(bits) => {
                let mut bytes = [0u8; 16];
                input.read(&mut bytes[..bits / 8]).map_err(short)?;
                let number = u128::from_le_bytes(bytes);
                if bits <= 32 { json!(number as u64) } else { json!(number.to_string()) }
            }
            Type::Account => json!(AccountId::decode(input).map_err(short)?.to_string()),
            Type::Hash => json!(hex0x(<[u8; 32]>::decode(input).map_err(short)?)),
            Type::Bytes => json!(hex0x(Vec::<u8>::decode(input).map_err(short)?)),
            Type::Text => {
                let bytes = Vec::<u8>::decode(input).map_err(short)?;
                match String::from_utf8(bytes) {
                    Ok(text) => json!(text),
                    Err(error) => json!(hex0x(error.into_bytes())),
                }
            }
            Type::Vec(inner) => {
                let length = Compact::<u32>::decode(input).map_err(short)?.0 as usize;
                // Elements of every type but `()` take at least a byte; a vector longer than the
                // bytes left is refused, so a hostile length cannot make work or allocate.
                if length > input.len() {
                    return Err(Error::Malformed(format!("a {ty} claims {length} elements in {} bytes", input.len())));
                }
                let mut items = Vec::new();
                for _ in 0..length {
                    items.push(self.decode_from(inner, input, depth + 1)?);
                }
                Value::Array(items)
            }
            Type::Option(inner) => match u8::decode(input).map_err(short)? {
                0 => Value::Null,
                1 => self.decode_from(inner, input, depth + 1)?,
                tag => return Err(Error::Malformed(format!("an {ty} with tag {tag}"))),
            },
            Type::Named(name) => {
                match self.types.get(name).ok_or_else(|| Error::Malformed(format!("unknown type {name}")))? {
                    TypeDef::Struct(fields) => self.decode_named(fields, input, depth)?,
                    TypeDef::Enum(variants) => {
                        let index = u8::decode(input).map_err(short)?;
                        let variant = variants
                            .iter()
                            .find(|v| v.index == index)
                            .ok_or_else(|| Error::Malformed(format!("{name} has no variant {index}")))?;
                        match &variant.fields {
                            Fields::Unnamed(types) if types.is_empty() => json!(variant.name),
                            Fields::Unnamed(types) if types.len() == 1 => {
                                json!({ &variant.name: self.decode_from(&types[0], input, depth + 1)? })
                            }
                            Fields::Unnamed(types) => {
                                let items = types
                                    .iter()
                                    .map(|ty| self.decode_from(ty, input, depth + 1))
                                    .collect::<Result<Vec<_>, _>>()?;
                                json!({ &variant.name: items })
                            }
                            Fields::Named(fields) => json!({ &variant.name: self.decode_named(fields, input, depth)? }),
                        }
                    }
                }
            }
        })
    }

    fn decode_named(&self, fields: &[(String, String)], input: &mut &[u8], depth: usize) -> Result<Value, Error> {
        let mut map = Map::new();
        for (name, ty) in fields {
            map.insert(name.clone(), self.decode_from(ty, input, depth + 1)?);
        }
        Ok(Value::Object(map))
    }
}

fn names(fields: &[(String, String)]) -> String {
    fields.iter().map(|(name, ty)| format!("{name} ({ty})")).collect::<Vec<_>>().join(", ")
}

/// A parsed type expression.
#[derive(Debug)]
enum Type<'a> {
    Unit,
    Bool,
    Uint(usize),
    Account,
    Hash,
    Bytes,
    Text,
    Vec(&'a str),
    Option(&'a str),
    Named(&'a str),
}

impl<'a> Type<'a> {
    fn parse(ty: &'a str) -> Result<Self, Error> {
        let ty = ty.trim();
        let generic = |prefix: &str| ty.strip_prefix(prefix).and_then(|rest| rest.strip_suffix('>')).map(str::trim);
        Ok(match ty {
            "()" => Self::Unit,
            "bool" => Self::Bool,
            "u8" => Self::Uint(8),
            "u16" => Self::Uint(16),
            "u32" => Self::Uint(32),
            "u64" => Self::Uint(64),
            "u128" => Self::Uint(128),
            "AccountId" => Self::Account,
            "Hash" => Self::Hash,
            "Bytes" => Self::Bytes,
            "Text" | "String" => Self::Text,
            _ => {
                if let Some(inner) = generic("Vec<") {
                    Self::Vec(inner)
                } else if let Some(inner) = generic("Option<") {
                    Self::Option(inner)
                } else if !ty.is_empty() && ty.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    Self::Named(ty)
                } else {
                    return Err(invalid(format!("interface: {ty:?} is not a type")));
                }
            }
        })
    }
}

fn parse_fields(owner: &str, fields: Option<&Value>) -> Result<Fields, Error> {
    let Some(fields) = fields else { return Ok(Fields::Unnamed(Vec::new())) };
    let list = fields.as_array().ok_or_else(|| invalid(format!("interface: {owner}'s fields are not a list")))?;
    if list.iter().all(Value::is_string) {
        return Ok(Fields::Unnamed(list.iter().filter_map(Value::as_str).map(str::to_owned).collect()));
    }
    list.iter()
        .map(|field| {
            let name = field.get("name").and_then(Value::as_str);
            let ty = field.get("type").and_then(Value::as_str);
            match (name, ty) {
                (Some(name), Some(ty)) => Ok((name.to_owned(), ty.to_owned())),
                _ => Err(invalid(format!("interface: {owner}: a field needs a \"name\" and a \"type\""))),
            }
        })
        .collect::<Result<_, _>>()
        .map(Fields::Named)
}

fn parse_type_def(name: &str, def: &Value) -> Result<TypeDef, Error> {
    if let Some(variants) = def.get("enum") {
        let list = variants.as_array().ok_or_else(|| invalid(format!("interface: {name}.enum is not a list")))?;
        let mut parsed: Vec<Variant> = Vec::new();
        for variant in list {
            let variant_name = variant
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("interface: a variant of {name} has no name")))?;
            let index = variant
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|i| u8::try_from(i).ok())
                .ok_or_else(|| invalid(format!("interface: {name}::{variant_name} needs an index 0-255")))?;
            if parsed.iter().any(|v| v.index == index || v.name == variant_name) {
                return Err(invalid(format!("interface: {name} repeats variant {variant_name} or index {index}")));
            }
            let fields = parse_fields(&format!("{name}::{variant_name}"), variant.get("fields"))?;
            parsed.push(Variant { name: variant_name.to_owned(), index, fields });
        }
        return Ok(TypeDef::Enum(parsed));
    }
    if let Some(fields) = def.get("struct") {
        return match parse_fields(name, Some(fields))? {
            Fields::Named(fields) => Ok(TypeDef::Struct(fields)),
            Fields::Unnamed(types) if types.is_empty() => Ok(TypeDef::Struct(Vec::new())),
            Fields::Unnamed(_) => Err(invalid(format!("interface: struct {name} needs named fields"))),
        };
    }
    Err(invalid(format!("interface: type {name} is neither an enum nor a struct")))
}

/// A JSON number or decimal string as an unsigned integer.
fn integer(value: &Value) -> Option<u128> {
    match value {
        Value::Number(number) => number.as_u64().map(u128::from),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// An account from SS58, `0x` hex or a development secret URI (`//Bob`).
pub fn account(value: &Value) -> Option<AccountId> {
    let text = value.as_str()?.trim();
    if text.starts_with("//") {
        return veil_crypto::AccountPair::from_suri(text, None).ok().map(|pair| pair.public());
    }
    AccountId::from_str(text).ok()
}

#[cfg(test)]
mod tests;

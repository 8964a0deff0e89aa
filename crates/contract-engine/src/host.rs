//! The host functions: the `veil` imports of [`veil_contract_sdk::abi`], each charging fuel first.

use super::*;

type HostResult<T> = Result<T, wasmi::Error>;

fn trap(message: impl Into<String>) -> wasmi::Error {
    wasmi::Error::new(message.into())
}

fn schedule(caller: &Caller<'_, HostState>) -> FuelSchedule {
    caller.data().engine.0.schedule
}

fn limits(caller: &Caller<'_, HostState>) -> Limits {
    caller.data().engine.0.limits
}

fn charge(caller: &mut Caller<'_, HostState>, cost: u64) -> HostResult<()> {
    let fuel = caller.get_fuel()?;
    match fuel.checked_sub(cost) {
        Some(left) => caller.set_fuel(left),
        None => {
            caller.set_fuel(0)?;
            Err(TrapCode::OutOfFuel.into())
        }
    }
}

fn memory(caller: &Caller<'_, HostState>) -> HostResult<Memory> {
    caller.get_export("memory").and_then(Extern::into_memory).ok_or_else(|| trap("the module exports no memory"))
}

fn length(len: i32, limit: usize, what: &str) -> HostResult<usize> {
    let len = usize::try_from(len).map_err(|_| trap(format!("negative {what} length")))?;
    if len > limit {
        return Err(trap(format!("{what} is {len} bytes; the limit is {limit}")));
    }
    Ok(len)
}

/// Reads `len` bytes at `ptr`, charging for them.
fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: usize) -> HostResult<Vec<u8>> {
    charge(caller, schedule(caller).per_byte.saturating_mul(len as u64))?;
    let mut bytes = vec![0; len];
    memory(caller)?.read(&*caller, ptr as u32 as usize, &mut bytes).map_err(|_| trap("read outside memory"))?;
    Ok(bytes)
}

/// Writes `bytes` at `ptr`, charging for them.
fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> HostResult<()> {
    charge(caller, schedule(caller).per_byte.saturating_mul(bytes.len() as u64))?;
    memory(caller)?.write(&mut *caller, ptr as u32 as usize, bytes).map_err(|_| trap("write outside memory"))
}

fn enter(caller: &mut Caller<'_, HostState>) -> HostResult<()> {
    charge(caller, schedule(caller).host_call)
}

fn writable(caller: &Caller<'_, HostState>) -> HostResult<()> {
    if caller.data().read_only {
        return Err(trap("a query cannot change storage or have effects"));
    }
    Ok(())
}

fn effect(caller: &mut Caller<'_, HostState>) -> HostResult<()> {
    writable(caller)?;
    let max = limits(caller).max_effects;
    let host = caller.data_mut();
    host.effect_count += 1;
    if host.effect_count > max {
        return Err(trap(format!("a call has at most {max} events, messages and releases")));
    }
    Ok(())
}

fn id32(caller: &mut Caller<'_, HostState>, ptr: i32) -> HostResult<[u8; 32]> {
    let bytes = read(caller, ptr, 32)?;
    bytes.try_into().map_err(|_| trap("expected 32 bytes"))
}

/// Defines host functions in module `veil` and remembers their names: the one list of what a
/// module may import.
struct Definer<'a> {
    linker: &'a mut Linker<HostState>,
    names: Vec<&'static str>,
}

impl Definer<'_> {
    fn func<Params, Results>(
        &mut self,
        name: &'static str,
        func: impl wasmi::IntoFunc<HostState, Params, Results>,
    ) -> Result<(), wasmi::errors::LinkerError> {
        self.linker.func_wrap("veil", name, func)?;
        self.names.push(name);
        Ok(())
    }
}

/// Registers every host function in `linker`; returns their names (module `veil`).
pub(crate) fn define(linker: &mut Linker<HostState>) -> Vec<&'static str> {
    let mut definer = Definer { linker, names: Vec::new() };
    let defined = define_all(&mut definer);
    // The names are fixed and distinct: definition cannot fail.
    debug_assert!(defined.is_ok(), "{defined:?}");
    definer.names
}

fn define_all(definer: &mut Definer<'_>) -> Result<(), wasmi::errors::LinkerError> {
    definer.func("input_len", |mut caller: Caller<'_, HostState>| -> HostResult<i32> {
        enter(&mut caller)?;
        Ok(caller.data().input.len() as i32)
    })?;
    definer.func("input_read", |mut caller: Caller<'_, HostState>, ptr: i32| -> HostResult<()> {
        enter(&mut caller)?;
        let input = std::mem::take(&mut caller.data_mut().input);
        let written = write(&mut caller, ptr, &input);
        caller.data_mut().input = input;
        written
    })?;
    definer.func("output", |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> HostResult<()> {
        enter(&mut caller)?;
        let len = length(len, limits(&caller).max_output_bytes, "output")?;
        let bytes = read(&mut caller, ptr, len)?;
        caller.data_mut().output = bytes;
        Ok(())
    })?;
    definer.func("result_len", |mut caller: Caller<'_, HostState>| -> HostResult<i32> {
        enter(&mut caller)?;
        Ok(caller.data().result.len() as i32)
    })?;
    definer.func("result_read", |mut caller: Caller<'_, HostState>, ptr: i32| -> HostResult<()> {
        enter(&mut caller)?;
        let result = std::mem::take(&mut caller.data_mut().result);
        write(&mut caller, ptr, &result)
    })?;
    definer.func("storage_get", |mut caller: Caller<'_, HostState>, key: i32, key_len: i32| -> HostResult<i32> {
        enter(&mut caller)?;
        let key_len = length(key_len, limits(&caller).max_key_bytes, "storage key")?;
        let key = read(&mut caller, key, key_len)?;
        let value = caller.data().read(&key).cloned();
        let found = value.is_some();
        caller.data_mut().result = value.unwrap_or_default();
        Ok(i32::from(found))
    })?;
    definer.func(
        "storage_set",
        |mut caller: Caller<'_, HostState>, key: i32, key_len: i32, value: i32, value_len: i32| -> HostResult<()> {
            enter(&mut caller)?;
            writable(&caller)?;
            let limits = limits(&caller);
            let key_len = length(key_len, limits.max_key_bytes, "storage key")?;
            let value_len = length(value_len, limits.max_value_bytes, "storage value")?;
            let cost = schedule(&caller).storage_write_byte.saturating_mul((key_len + value_len) as u64);
            charge(&mut caller, cost)?;
            let key = read(&mut caller, key, key_len)?;
            let value = read(&mut caller, value, value_len)?;
            caller.data_mut().writes.insert(key, Some(value));
            Ok(())
        },
    )?;
    definer.func("storage_remove", |mut caller: Caller<'_, HostState>, key: i32, key_len: i32| -> HostResult<()> {
        enter(&mut caller)?;
        writable(&caller)?;
        let key_len = length(key_len, limits(&caller).max_key_bytes, "storage key")?;
        let cost = schedule(&caller).storage_write_byte.saturating_mul(key_len as u64);
        charge(&mut caller, cost)?;
        let key = read(&mut caller, key, key_len)?;
        caller.data_mut().writes.insert(key, None);
        Ok(())
    })?;
    definer.func("emit", |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> HostResult<()> {
        enter(&mut caller)?;
        effect(&mut caller)?;
        let len = length(len, limits(&caller).max_effect_bytes, "event")?;
        let event = read(&mut caller, ptr, len)?;
        caller.data_mut().effects.events.push(event);
        Ok(())
    })?;
    definer.func(
        "send",
        |mut caller: Caller<'_, HostState>, contract: i32, ptr: i32, len: i32, fuel: i64| -> HostResult<()> {
            enter(&mut caller)?;
            effect(&mut caller)?;
            let len = length(len, limits(&caller).max_effect_bytes, "message")?;
            let target = ContractId(id32(&mut caller, contract)?);
            // Messages stay within the cluster: its workers hold the keys to seal and open them.
            let host = caller.data();
            if target != host.env.contract && !host.peers.contains_key(&target) {
                return Err(trap(format!("no contract {} in this cluster to send to", Hash(target.0))));
            }
            let message = read(&mut caller, ptr, len)?;
            let fuel = u64::try_from(fuel).map_err(|_| trap("negative message fuel"))?;
            // The message's fuel is paid now, from this call's.
            charge(&mut caller, fuel)?;
            caller.data_mut().effects.sent.push((target, message, fuel));
            Ok(())
        },
    )?;
    definer.func("release", |mut caller: Caller<'_, HostState>, account: i32, amount: i32| -> HostResult<()> {
        enter(&mut caller)?;
        effect(&mut caller)?;
        let account = AccountId(id32(&mut caller, account)?);
        let amount = read(&mut caller, amount, 16)?;
        let amount = u128::from_le_bytes(amount.try_into().map_err(|_| trap("expected 16 bytes"))?);
        caller.data_mut().effects.released.push((account, amount));
        Ok(())
    })?;
    definer.func(
        "query",
        |mut caller: Caller<'_, HostState>, contract: i32, ptr: i32, len: i32| -> HostResult<i32> {
            enter(&mut caller)?;
            let cost = schedule(&caller).query;
            charge(&mut caller, cost)?;
            let limits = limits(&caller);
            let len = length(len, limits.max_output_bytes, "query")?;
            let target = ContractId(id32(&mut caller, contract)?);
            let payload = read(&mut caller, ptr, len)?;
            let host = caller.data();
            let (engine, peers, env, depth) = (host.engine.clone(), Arc::clone(&host.peers), host.env, host.depth);
            let call_id = sha256(&(host.call_id, b"query", host.random_counter).encode()).0;
            let Some(peer) = peers.get(&target).cloned() else {
                caller.data_mut().result = format!("no contract {} in this cluster", Hash(target.0)).into_bytes();
                return Ok(1);
            };
            if depth >= limits.max_query_depth {
                caller.data_mut().result = format!("queries nest at most {} deep", limits.max_query_depth).into_bytes();
                return Ok(1);
            }
            let fuel = caller.get_fuel()?;
            let env = Env {
                contract: target,
                owner: peer.owner,
                caller: ContractCaller::Contract(env.contract),
                height: env.height,
                timestamp_ms: env.timestamp_ms,
                value: 0,
            };
            let call = Call { entry: Entry::Query, env, payload: &payload, fuel, call_id };
            let outcome = engine.execute_at(&peer.code, &peer.storage, &peer.secrets, &peers, call, depth + 1);
            charge(&mut caller, outcome.fuel_used)?;
            let host = caller.data_mut();
            host.random_counter += 1;
            let (status, result) = match outcome.result {
                Ok(completed) => (0, completed.output),
                Err(Failure::Refused(reason)) => (1, reason.into_bytes()),
                Err(failure) => (1, format!("the queried contract failed: {failure}").into_bytes()),
            };
            host.result = result;
            Ok(status)
        },
    )?;
    definer.func("signing_key", |mut caller: Caller<'_, HostState>, out: i32| -> HostResult<()> {
        enter(&mut caller)?;
        let key = caller.data().secrets.signer.public();
        write(&mut caller, out, &key)
    })?;
    definer.func("sign", |mut caller: Caller<'_, HostState>, ptr: i32, len: i32, out: i32| -> HostResult<()> {
        enter(&mut caller)?;
        let cost = schedule(&caller).sign;
        charge(&mut caller, cost)?;
        let len = length(len, limits(&caller).max_value_bytes, "message to sign")?;
        let message = read(&mut caller, ptr, len)?;
        let signature = caller.data().secrets.signer.sign(&message);
        write(&mut caller, out, &signature)
    })?;
    definer.func("random", |mut caller: Caller<'_, HostState>, out: i32, len: i32| -> HostResult<()> {
        enter(&mut caller)?;
        let len = length(len, 32, "random")?;
        let host = caller.data_mut();
        host.random_counter += 1;
        let info =
            (b"veil/contract-random/v1", host.env.height, host.env.timestamp_ms, host.call_id, host.random_counter)
                .encode();
        let bytes = hkdf_sha256::<32>(b"veil/contract-random", host.secrets.randomness.expose(), &info);
        write(&mut caller, out, &bytes[..len])
    })?;
    definer.func("fail", |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> HostResult<()> {
        enter(&mut caller)?;
        let len = length(len, 1024, "failure reason").unwrap_or(0);
        let reason = read(&mut caller, ptr, len)?;
        caller.data_mut().failure = Some(String::from_utf8_lossy(&reason).into_owned());
        Ok(())
    })?;
    Ok(())
}

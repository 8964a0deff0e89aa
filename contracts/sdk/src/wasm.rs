//! The wasm side: imports, the entry point's body, a bump allocator and the panic handler.
#![allow(unsafe_code)]

use crate::{
    abi::{AccountId, ContractId},
    Contract,
};
use alloc::{string::String, vec, vec::Vec};

#[link(wasm_import_module = "veil")]
extern "C" {
    fn input_len() -> i32;
    fn input_read(ptr: *mut u8);
    fn output(ptr: *const u8, len: i32);
    fn result_len() -> i32;
    fn result_read(ptr: *mut u8);
    #[link_name = "storage_get"]
    fn host_storage_get(key: *const u8, key_len: i32) -> i32;
    #[link_name = "storage_set"]
    fn host_storage_set(key: *const u8, key_len: i32, value: *const u8, value_len: i32);
    #[link_name = "storage_remove"]
    fn host_storage_remove(key: *const u8, key_len: i32);
    #[link_name = "emit"]
    fn host_emit(ptr: *const u8, len: i32);
    #[link_name = "send"]
    fn host_send(contract: *const u8, ptr: *const u8, len: i32, fuel: i64);
    #[link_name = "release"]
    fn host_release(account: *const u8, amount: *const u8);
    #[link_name = "query"]
    fn host_query(contract: *const u8, ptr: *const u8, len: i32) -> i32;
    #[link_name = "signing_key"]
    fn host_signing_key(out: *mut u8);
    #[link_name = "sign"]
    fn host_sign(ptr: *const u8, len: i32, out: *mut u8);
    #[link_name = "random"]
    fn host_random(out: *mut u8, len: i32);
    fn fail(ptr: *const u8, len: i32);
}

fn take_result() -> Vec<u8> {
    // SAFETY: the host writes exactly `result_len()` bytes.
    unsafe {
        let mut bytes = vec![0u8; result_len() as usize];
        result_read(bytes.as_mut_ptr());
        bytes
    }
}

/// The body of the exported `call`.
pub fn run<C: Contract>() -> i32 {
    // SAFETY: the host writes exactly `input_len()` bytes.
    let input = unsafe {
        let mut bytes = vec![0u8; input_len() as usize];
        input_read(bytes.as_mut_ptr());
        bytes
    };
    let (code, bytes) = match crate::dispatch::<C>(&input) {
        Ok(answer) => (0, answer),
        Err(reason) => (1, reason.into_bytes()),
    };
    // SAFETY: pointer and length describe a live buffer.
    unsafe { output(bytes.as_ptr(), bytes.len() as i32) };
    code
}

pub(crate) fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: pointer and length describe a live buffer.
    (unsafe { host_storage_get(key.as_ptr(), key.len() as i32) } == 1).then(take_result)
}

pub(crate) fn storage_set(key: &[u8], value: &[u8]) {
    // SAFETY: pointers and lengths describe live buffers.
    unsafe { host_storage_set(key.as_ptr(), key.len() as i32, value.as_ptr(), value.len() as i32) }
}

pub(crate) fn storage_remove(key: &[u8]) {
    // SAFETY: pointer and length describe a live buffer.
    unsafe { host_storage_remove(key.as_ptr(), key.len() as i32) }
}

pub(crate) fn emit(event: &[u8]) {
    // SAFETY: pointer and length describe a live buffer.
    unsafe { host_emit(event.as_ptr(), event.len() as i32) }
}

pub(crate) fn send(contract: ContractId, message: &[u8], fuel: u64) {
    // SAFETY: pointers and lengths describe live buffers.
    unsafe { host_send(contract.0.as_ptr(), message.as_ptr(), message.len() as i32, fuel as i64) }
}

pub(crate) fn release(account: AccountId, amount: u128) {
    let amount = amount.to_le_bytes();
    // SAFETY: both buffers are live and of the sizes the host reads (32 and 16 bytes).
    unsafe { host_release(account.0.as_ptr(), amount.as_ptr()) }
}

pub(crate) fn query(contract: ContractId, query: &[u8]) -> Result<Vec<u8>, String> {
    // SAFETY: pointers and lengths describe live buffers.
    let status = unsafe { host_query(contract.0.as_ptr(), query.as_ptr(), query.len() as i32) };
    let bytes = take_result();
    match status {
        0 => Ok(bytes),
        _ => Err(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

pub(crate) fn signing_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    // SAFETY: the host writes 32 bytes.
    unsafe { host_signing_key(key.as_mut_ptr()) };
    key
}

pub(crate) fn sign(message: &[u8]) -> [u8; 64] {
    let mut signature = [0u8; 64];
    // SAFETY: the host reads `len` bytes and writes 64.
    unsafe { host_sign(message.as_ptr(), message.len() as i32, signature.as_mut_ptr()) };
    signature
}

pub(crate) fn random() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // SAFETY: the host writes `len` bytes.
    unsafe { host_random(bytes.as_mut_ptr(), 32) };
    bytes
}

/// Every call runs in a fresh instance, so memory is never freed: a bump allocator that grows the
/// memory as it goes. When the runtime's memory limit refuses to grow, allocation fails and the call
/// traps.
struct Bump;

static mut NEXT: usize = 0;
static mut END: usize = 0;

unsafe impl core::alloc::GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        const PAGE: usize = 65_536;
        // SAFETY: wasm32 contracts are single-threaded.
        unsafe {
            if END == 0 {
                NEXT = core::arch::wasm32::memory_size(0) * PAGE;
                END = NEXT;
            }
            let start = (NEXT + layout.align() - 1) & !(layout.align() - 1);
            let Some(stop) = start.checked_add(layout.size()) else { return core::ptr::null_mut() };
            if stop > END {
                let pages = (stop - END).div_ceil(PAGE);
                if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                    return core::ptr::null_mut();
                }
                END += pages * PAGE;
            }
            NEXT = stop;
            start as *mut u8
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // A literal message needs no allocation (the panic may be an allocation failure).
    let formatted;
    let message = match info.message().as_str() {
        Some(text) => text,
        None => {
            formatted = alloc::format!("{}", info.message());
            formatted.as_str()
        }
    };
    // SAFETY: pointer and length describe a live buffer.
    unsafe { fail(message.as_ptr(), message.len() as i32) };
    core::arch::wasm32::unreachable()
}

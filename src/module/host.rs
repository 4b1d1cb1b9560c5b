//! Functions a module may take from the host process instead of the module API.
//!
//! redis-server exports every symbol of its executable, and some modules were built relying
//! on that: they call Redis' hash functions (`siphash` in RediSearch 1.x, for one) without
//! carrying their own copy, and the dynamic linker binds them to the server's when the module
//! is loaded. Such a `.so` only loads here if ferrodis exports the same names with the same
//! C signatures and results. These are they: the hash and checksum functions of redis-server
//! 7.0 (build.rs exports them from the executable; `tests/modules.rs` loads a module calling
//! each into both servers and compares the answers). libm, which modules lean on the same
//! way, is kept among the executable's own libraries (build.rs).

use std::ffi::{c_char, c_int, c_uint};
use std::sync::OnceLock;

/// The names build.rs exports from the executable (keep the two lists equal).
pub const EXPORTED: &[&str] = &[
    "siphash",
    "siphash_nocase",
    "dictGenHashFunction",
    "dictGenCaseHashFunction",
    "MurmurHash64A",
    "crc64",
    "crc64_init",
    "crc16",
];

/// SipHash with one compression and two finalization rounds (SipHash-1-2), the variant
/// Redis hashes its dict keys with; `lower` folds ASCII letters to lower case first.
fn siphash_1_2(data: &[u8], key: &[u8; 16], lower: bool) -> u64 {
    let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
    let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let fold = |b: u8| if lower { b.to_ascii_lowercase() } else { b };
    let word = |bytes: &[u8]| {
        bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(fold(b)))
    };
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let m = word(block);
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    }
    let last = ((data.len() as u64) << 56) | word(blocks.remainder());
    v[3] ^= last;
    round(&mut v);
    v[0] ^= last;
    v[2] ^= 0xff;
    round(&mut v);
    round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// # Safety
/// `len` readable bytes at `data` (or `len` 0).
unsafe fn bytes<'a>(data: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: per the contract above.
        unsafe { std::slice::from_raw_parts(data, len) }
    }
}

/// # Safety
/// `key` points at 16 readable bytes.
unsafe fn key16(key: *const u8) -> [u8; 16] {
    // SAFETY: per the contract above.
    unsafe { std::ptr::read_unaligned(key as *const [u8; 16]) }
}

/// `uint64_t siphash(const uint8_t *in, const size_t inlen, const uint8_t *k)`.
///
/// # Safety
/// `inlen` readable bytes at `input`; 16 at `k`.
#[no_mangle]
pub unsafe extern "C" fn siphash(input: *const u8, inlen: usize, k: *const u8) -> u64 {
    // SAFETY: the C contract above.
    unsafe { siphash_1_2(bytes(input, inlen), &key16(k), false) }
}

/// `uint64_t siphash_nocase(const uint8_t *in, const size_t inlen, const uint8_t *k)`.
///
/// # Safety
/// As for `siphash`.
#[no_mangle]
pub unsafe extern "C" fn siphash_nocase(input: *const u8, inlen: usize, k: *const u8) -> u64 {
    // SAFETY: the C contract above.
    unsafe { siphash_1_2(bytes(input, inlen), &key16(k), true) }
}

/// The seed of `dictGenHashFunction`: random per process, as Redis seeds its dicts.
fn dict_seed() -> &'static [u8; 16] {
    static SEED: OnceLock<[u8; 16]> = OnceLock::new();
    SEED.get_or_init(rand::random)
}

/// `uint64_t dictGenHashFunction(const void *key, size_t len)`.
///
/// # Safety
/// `len` readable bytes at `key`.
#[no_mangle]
pub unsafe extern "C" fn dictGenHashFunction(key: *const u8, len: usize) -> u64 {
    // SAFETY: the C contract above.
    unsafe { siphash_1_2(bytes(key, len), dict_seed(), false) }
}

/// `uint64_t dictGenCaseHashFunction(const unsigned char *buf, size_t len)`.
///
/// # Safety
/// `len` readable bytes at `buf`.
#[no_mangle]
pub unsafe extern "C" fn dictGenCaseHashFunction(buf: *const u8, len: usize) -> u64 {
    // SAFETY: the C contract above.
    unsafe { siphash_1_2(bytes(buf, len), dict_seed(), true) }
}

/// `uint64_t MurmurHash64A(const void *key, int len, unsigned int seed)`.
///
/// # Safety
/// `len` readable bytes at `key`.
#[no_mangle]
pub unsafe extern "C" fn MurmurHash64A(key: *const u8, len: c_int, seed: c_uint) -> u64 {
    // SAFETY: the C contract above.
    let data = unsafe { bytes(key, len.max(0) as usize) };
    crate::types::hll::murmur64a(data, u64::from(seed))
}

/// `uint64_t crc64(uint64_t crc, const unsigned char *s, uint64_t l)`: Redis' RDB checksum.
///
/// # Safety
/// `l` readable bytes at `s`.
#[no_mangle]
pub unsafe extern "C" fn crc64(crc: u64, s: *const u8, l: u64) -> u64 {
    // SAFETY: the C contract above.
    crate::rdb::crc64::update(crc, unsafe { bytes(s, l as usize) })
}

/// `void crc64_init(void)`: Redis builds its tables here; ours are built at compile time.
#[no_mangle]
pub extern "C" fn crc64_init() {}

/// `uint16_t crc16(const char *buf, int len)`: CRC-16/XMODEM, the cluster key-slot hash.
///
/// # Safety
/// `len` readable bytes at `buf`.
#[no_mangle]
pub unsafe extern "C" fn crc16(buf: *const c_char, len: c_int) -> u16 {
    // SAFETY: the C contract above.
    let data = unsafe { bytes(buf as *const u8, len.max(0) as usize) };
    data.iter().fold(0u16, |mut crc, &b| {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
        crc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_the_published_check_values() {
        let s = b"123456789";
        // SAFETY: valid buffers.
        unsafe {
            assert_eq!(crc16(s.as_ptr() as *const c_char, 9), 0x31c3);
            assert_eq!(crc64(0, s.as_ptr(), 9), 0xe9c6_d914_c4b8_d9ca);
        }
    }

    #[test]
    fn siphash_nocase_ignores_ascii_case_only() {
        let key = *b"0123456789abcdef";
        assert_eq!(
            siphash_1_2(b"Hello World", &key, true),
            siphash_1_2(b"hello world", &key, false)
        );
        assert_ne!(
            siphash_1_2(b"Hello World", &key, false),
            siphash_1_2(b"hello world", &key, false)
        );
    }
}

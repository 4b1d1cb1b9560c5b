//! LZF compression as liblzf 3.6 does it (the "very fast" hash variant Redis builds), so that
//! compressed sizes match Redis byte for byte: RDB string payloads and DEBUG OBJECT's
//! `serializedlength` depend on them.
//!
//! Output format: `000LLLLL` + L+1 literal bytes; `LLLooooo oooooooo` a back reference of
//! L+2 bytes (L < 7) at distance o+1; `111ooooo LLLLLLLL oooooooo` a reference of L+9 bytes.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

#[inline]
fn first(d: &[u8], p: usize) -> u32 {
    ((d[p] as u32) << 8) | d[p + 1] as u32
}

#[inline]
fn next(v: u32, d: &[u8], p: usize) -> u32 {
    (v << 8) | d[p + 2] as u32
}

#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// The hash table of one compression: for each 3-byte hash, the position + 1 of its last
/// occurrence (0: none yet). A snapshot compresses every string and blob over 20 bytes, so
/// allocating and zeroing 64K slots per call made SAVE mostly page faults; instead one
/// table per thread is reused, each slot tagged with the call that wrote it, so a slot from
/// an earlier call reads as empty, exactly as a zeroed table would (the output must not
/// depend on what was compressed before).
struct HashTable<'a> {
    slots: &'a mut [u64],
    tag: u64,
}

impl HashTable<'_> {
    #[inline]
    fn get(&self, slot: usize) -> usize {
        let e = self.slots[slot];
        if e >> 32 == self.tag {
            (e & 0xffff_ffff) as usize
        } else {
            0
        }
    }

    #[inline]
    fn set(&mut self, slot: usize, pos_plus_one: usize) {
        self.slots[slot] = (self.tag << 32) | pos_plus_one as u64;
    }
}

thread_local! {
    /// The reusable slots and the tag of the last call (0 never marks a live slot).
    static TABLE: std::cell::RefCell<(Vec<u64>, u64)> = const { std::cell::RefCell::new((Vec::new(), 0)) };
}

/// Compresses `input` into at most `out_len` bytes. Returns `None` when the result wouldn't
/// fit (the caller then stores the data uncompressed), like `lzf_compress` returning 0.
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return None;
    }
    // Positions are kept in 32 bits; a longer input (never a Redis string) gets its own table.
    if in_len >= u32::MAX as usize {
        let mut slots = vec![0u64; HSIZE];
        return compress_with(
            input,
            out_len,
            &mut HashTable {
                slots: &mut slots,
                tag: 1,
            },
        );
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let (slots, last) = &mut *t;
        if slots.is_empty() {
            slots.resize(HSIZE, 0);
        }
        *last += 1;
        if *last > u32::MAX as u64 {
            // Tags ran out: start over from a cleared table.
            slots.fill(0);
            *last = 1;
        }
        let tag = *last;
        compress_with(input, out_len, &mut HashTable { slots, tag })
    })
}

fn compress_with(input: &[u8], out_len: usize, htab: &mut HashTable) -> Option<Vec<u8>> {
    let in_len = input.len();
    // A few spare bytes so run headers reserved at the very end stay addressable.
    let mut out = vec![0u8; out_len + 4];
    let out_end = out_len;
    let mut ip = 0usize;
    let mut op = 1usize; // start of a literal run: its header byte is reserved
    let mut lit = 0usize;
    let in_end = in_len;

    if in_len < 3 {
        // No room for a back reference: everything is literal.
        return finish_literals(input, ip, &mut out, op, lit, out_end);
    }
    let mut hval = first(input, ip);
    while ip + 2 < in_end {
        hval = next(hval, input, ip);
        let slot = idx(hval);
        let r = htab.get(slot);
        htab.set(slot, ip + 1);
        let matched = if r > 1 {
            let rp = r - 1;
            let off = ip - rp - 1;
            off < MAX_OFF
                && rp < ip
                && input[rp + 2] == input[ip + 2]
                && input[rp] == input[ip]
                && input[rp + 1] == input[ip + 1]
        } else {
            false
        };
        if matched {
            let rp = r - 1;
            let off = ip - rp - 1;
            let mut len = 2usize;
            let maxlen = (in_end - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_end && op - (lit == 0) as usize + 3 + 1 >= out_end {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            op -= (lit == 0) as usize;
            // liblzf first compares 16 bytes without the length limit when more than 16 may
            // match (so a match can end up to two bytes past `maxlen`), then extends one byte
            // at a time; the resulting lengths are part of the format, so we do the same.
            let mut done = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[rp + len] != input[ip + len] {
                        done = true;
                        break;
                    }
                }
            }
            if !done {
                loop {
                    len += 1;
                    if !(len < maxlen && input[rp + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1;
            ip += len + 1;
            if ip + 2 >= in_end {
                break;
            }
            ip -= 2;
            hval = first(input, ip);
            hval = next(hval, input, ip);
            htab.set(idx(hval), ip + 1);
            ip += 1;
            hval = next(hval, input, ip);
            htab.set(idx(hval), ip + 1);
            ip += 1;
        } else {
            if op >= out_end {
                return None;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    finish_literals(input, ip, &mut out, op, lit, out_end)
}

fn finish_literals(
    input: &[u8],
    mut ip: usize,
    out: &mut Vec<u8>,
    mut op: usize,
    mut lit: usize,
    out_end: usize,
) -> Option<Vec<u8>> {
    if op + 3 > out_end {
        return None;
    }
    while ip < input.len() {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= (lit == 0) as usize;
    out.truncate(op);
    Some(std::mem::take(out))
}

/// Expands LZF data to exactly `out_len` bytes; `None` on malformed input.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            out.extend_from_slice(input.get(ip..ip + n)?);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip)? as usize;
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            let start = out.len().checked_sub(back)?;
            for k in 0..len + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > out_len {
            return None;
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_does_not_depend_on_earlier_calls() {
        // The reused table must behave as a fresh one: the same input compresses to the same
        // bytes whatever was compressed before on this thread.
        let data: Vec<u8> = (0..3000u32)
            .map(|i| b"abcabdabe"[(i % 9) as usize] ^ (i / 700) as u8)
            .collect();
        let fresh = std::thread::spawn({
            let d = data.clone();
            move || compress(&d, d.len()).unwrap()
        })
        .join()
        .unwrap();
        for other in [&b"abcabdabeabcabdabe"[..], &[7u8; 500], &data[100..]] {
            let _ = compress(other, other.len());
            assert_eq!(compress(&data, data.len()).unwrap(), fresh);
        }
    }

    #[test]
    fn round_trips_and_compresses_repetitive_data() {
        let data = vec![b'a'; 126];
        let c = compress(&data, data.len() - 4).unwrap();
        assert!(c.len() < 20, "{}", c.len());
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
        let text = b"hello hello hello hello world world world 1234567890".repeat(5);
        let c = compress(&text, text.len() - 4).unwrap();
        assert_eq!(decompress(&c, text.len()).unwrap(), text);
    }

    #[test]
    fn incompressible_data_does_not_fit() {
        let data: Vec<u8> = (0..64u32).map(|i| (i * 97 % 251) as u8).collect();
        assert!(compress(&data, data.len() - 4).is_none());
    }
}

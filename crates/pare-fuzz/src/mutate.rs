//! A small seeded mutator for the stable replay of the fuzz targets (`tests/replay.rs`): bit
//! flips, interesting bytes, inserted and deleted runs, duplicated runs, splices with another input
//! and truncation, as libFuzzer's own mutators do in spirit. Deterministic for a seed, so a crash
//! found in CI is replayed by its seed. Not a coverage-guided fuzzer: that is `fuzz/`.

/// xorshift64*: enough randomness for mutations, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Bytes parsers treat specially: NUL, newline, space, `=`, `/`, `.`, digits' edges, 0x80 (base-256
/// numbers), 0xff.
const INTERESTING: &[u8] = b"\0\n =/.09\x80\xff\x7fx5gLK";

/// One to four mutations of `input`, with `other` as the splice partner.
pub fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                out[at] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let at = rng.below(len + 1);
                let run: Vec<u8> = (0..1 + rng.below(16))
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                out.splice(at..at, run);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(64)).min(len);
                out.drain(at..end);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(512)).min(len);
                let copy = out[at..end].to_vec();
                let to = rng.below(len + 1);
                out.splice(to..to, copy);
            }
            5 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => out.truncate(rng.below(len)),
            _ if len >= 8 => {
                // A decimal or octal number field overwritten with digits.
                let at = rng.below(len - 7);
                let digits = format!("{:08}", rng.next_u64() % 100_000_000);
                out[at..at + 8].copy_from_slice(digits.as_bytes());
            }
            _ => out.push(rng.next_u64() as u8),
        }
    }
    out
}

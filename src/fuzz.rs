//! Bounded fuzzing for the parsers of untrusted text, in the normal test run.
//!
//! A seeded generator builds hostile inputs from fragments that matter to each parser
//! (separators, escapes, prefixes, control characters, non-ASCII, random bytes), so a
//! failure names a seed that reproduces it. Each target runs [`iterations`] cases: a few
//! thousand by default; more on demand:
//!
//! ```sh
//! FUZZ_ITERATIONS=2000000 cargo test --features ssr --lib fuzz_
//! FUZZ_SEED=12345 cargo test --features ssr --lib fuzz_   # replay one run
//! ```

/// SplitMix64: tiny, fast, and the same sequence for the same seed everywhere.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Random bytes, `0..max` of them.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// Up to `parts` pieces: mostly `fragments`, sometimes a random character or random
    /// (lossily decoded) bytes.
    pub fn text(&mut self, fragments: &[&str], parts: usize) -> String {
        const ODD: [&str; 12] = [
            "\0",
            "\t",
            "\n",
            "\r",
            " ",
            "\u{7f}",
            "\u{85}",
            "\u{a0}",
            "\u{200b}",
            "\u{ff0f}",
            "\u{1f600}",
            "\u{fffd}",
        ];
        let mut out = String::new();
        for _ in 0..self.below(parts + 1) {
            match self.below(10) {
                0 => {
                    let odd: &&str = self.pick(&ODD);
                    out.push_str(odd)
                }
                1 => out.push_str(&String::from_utf8_lossy(&self.bytes(6))),
                2 => out.push(char::from(b' ' + self.below(95) as u8)),
                _ => {
                    let fragment: &&str = self.pick(fragments);
                    out.push_str(fragment)
                }
            }
        }
        out
    }
}

/// How many cases each target runs: `FUZZ_ITERATIONS`, else 3000.
pub fn iterations() -> usize {
    std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Runs `case` once per iteration with a generator seeded for it; a panic names the seed.
pub fn run(target: &str, mut case: impl FnMut(&mut Gen)) {
    let base = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let count = if base.is_some() { 1 } else { iterations() };
    for i in 0..count {
        let seed = base.unwrap_or(i as u64);
        let mut generator = Gen::new(seed ^ 0x5eed_0000_0000_0000);
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut generator)));
        if let Err(panic) = outcome {
            eprintln!("fuzz target {target} failed; replay with FUZZ_SEED={seed}");
            std::panic::resume_unwind(panic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_repeats_for_a_seed() {
        let a: Vec<u64> = (0..5).map(|_| Gen::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut g = Gen::new(7);
        assert_ne!(g.next_u64(), g.next_u64());
    }
}

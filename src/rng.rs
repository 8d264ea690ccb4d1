//! Seeded random streams. Every random draw in training and inference comes from a stream named
//! by the run's seed and a fixed path of indices (epoch, batch, chunk, …), never from thread
//! identity, so results do not depend on the number of threads.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

/// SplitMix64 finalizer: a bijective mix of 64 bits.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of the stream at `path` below `seed`.
pub fn stream_seed(seed: u64, path: &[u64]) -> u64 {
    path.iter().fold(mix(seed), |acc, &p| mix(acc ^ mix(p.wrapping_add(0x632B_E59B_D9B4_E019))))
}

/// The random stream at `path` below `seed`.
pub fn stream(seed: u64, path: &[u64]) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(stream_seed(seed, path))
}

/// Lanes of a [`LaneRng`].
pub const LANES: usize = 8;

/// Eight interleaved xoshiro256++ generators that fill buffers of 64-bit words in bulk (one vector
/// step gives a word from every lane). Word `i` of the output comes from lane `i mod 8` at step
/// `i div 8`; the sequence is the same however it is requested (word by word through [`Rng`] or in
/// slices of any length through [`fill`](Self::fill)). Lane `l` starts from words `4l..4l + 4` of
/// the generator it is seeded from.
#[derive(Clone, Debug)]
pub struct LaneRng {
    /// `s[w][l]`: state word `w` of lane `l`.
    s: [[u64; LANES]; 4],
    /// The rest of the last step, served from `pos`.
    buf: [u64; LANES],
    pos: usize,
}

impl LaneRng {
    /// Lanes seeded from 32 successive words of `rng` (lane by lane, four state words each; an
    /// all-zero lane, which xoshiro cannot leave, is replaced by a fixed nonzero state).
    pub fn from_rng<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut s = [[0u64; LANES]; 4];
        for l in 0..LANES {
            for w in &mut s {
                w[l] = rng.next_u64();
            }
            if s.iter().all(|w| w[l] == 0) {
                s[0][l] = 0x9E37_79B9_7F4A_7C15;
            }
        }
        LaneRng { s, buf: [0; LANES], pos: LANES }
    }

    /// The lane generator of the stream at `path` below `seed` (lanes seeded from `stream`).
    pub fn stream(seed: u64, path: &[u64]) -> Self {
        Self::from_rng(&mut stream(seed, path))
    }

    /// One step of every lane: each lane's next xoshiro256++ output (the portable form; the
    /// vector forms in `x86` compute the same words).
    #[inline]
    fn step(s: &mut [[u64; LANES]; 4]) -> [u64; LANES] {
        let [s0, s1, s2, s3] = s;
        let mut out = [0u64; LANES];
        for l in 0..LANES {
            out[l] = s0[l].wrapping_add(s3[l]).rotate_left(23).wrapping_add(s0[l]);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
        }
        out
    }

    /// Whole steps into `out` (a multiple of [`LANES`] long), with the widest vectors the CPU has.
    fn steps(s: &mut [[u64; LANES]; 4], out: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked).
                return unsafe { x86::steps_avx512(s, out) };
            }
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked).
                return unsafe { x86::steps_avx2(s, out) };
            }
        }
        for chunk in out.chunks_exact_mut(LANES) {
            chunk.copy_from_slice(&Self::step(s));
        }
    }

    /// Fills `out` with the next `out.len()` words of the sequence.
    pub fn fill(&mut self, out: &mut [u64]) {
        let from_buf = out.len().min(LANES - self.pos);
        out[..from_buf].copy_from_slice(&self.buf[self.pos..self.pos + from_buf]);
        self.pos += from_buf;
        let rest = &mut out[from_buf..];
        let whole = rest.len() / LANES * LANES;
        Self::steps(&mut self.s, &mut rest[..whole]);
        let tail = &mut rest[whole..];
        if !tail.is_empty() {
            self.buf = Self::step(&mut self.s);
            tail.copy_from_slice(&self.buf[..tail.len()]);
            self.pos = tail.len();
        }
    }
}

impl rand::TryRng for LaneRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
        self.try_next_u64().map(|w| (w >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
        if self.pos == LANES {
            self.buf = Self::step(&mut self.s);
            self.pos = 0;
        }
        self.pos += 1;
        Ok(self.buf[self.pos - 1])
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let w = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

/// A source of random 64-bit words in bulk (the unit noise of the Monte Carlo predictive draws
/// one word per unit).
pub trait Words {
    /// Fills `out` with the next `out.len()` words.
    fn fill_words(&mut self, out: &mut [u64]);
}

impl Words for LaneRng {
    fn fill_words(&mut self, out: &mut [u64]) {
        self.fill(out);
    }
}

impl Words for Xoshiro256PlusPlus {
    fn fill_words(&mut self, out: &mut [u64]) {
        out.iter_mut().for_each(|w| *w = self.next_u64());
    }
}

/// The lane generator's steps in AVX-512 (one vector per state word) and AVX2 (two).
// The AVX-512 intrinsics are stable since Rust 1.89 (see `crate::packed::kernel`).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    use std::arch::x86_64::*;

    use super::LANES;

    /// Whole steps of all eight lanes into `out`.
    #[target_feature(enable = "avx512f")]
    pub(super) fn steps_avx512(s: &mut [[u64; LANES]; 4], out: &mut [u64]) {
        // SAFETY: each state word is 8 u64 = 64 bytes (unaligned loads).
        let [mut s0, mut s1, mut s2, mut s3] = s.map(|w| unsafe { _mm512_loadu_si512(w.as_ptr().cast()) });
        for chunk in out.chunks_exact_mut(LANES) {
            let r = _mm512_add_epi64(_mm512_rol_epi64::<23>(_mm512_add_epi64(s0, s3)), s0);
            // SAFETY: `chunk` is 8 u64 = 64 bytes.
            unsafe { _mm512_storeu_si512(chunk.as_mut_ptr().cast(), r) };
            let t = _mm512_slli_epi64::<17>(s1);
            s2 = _mm512_xor_si512(s2, s0);
            s3 = _mm512_xor_si512(s3, s1);
            s1 = _mm512_xor_si512(s1, s2);
            s0 = _mm512_xor_si512(s0, s3);
            s2 = _mm512_xor_si512(s2, t);
            s3 = _mm512_rol_epi64::<45>(s3);
        }
        for (w, v) in s.iter_mut().zip([s0, s1, s2, s3]) {
            // SAFETY: as for the loads.
            unsafe { _mm512_storeu_si512(w.as_mut_ptr().cast(), v) };
        }
    }

    /// `x` rotated left by `L` (`R = 64 − L`) in each 64-bit lane.
    #[target_feature(enable = "avx2")]
    fn rol<const L: i32, const R: i32>(x: __m256i) -> __m256i {
        _mm256_or_si256(_mm256_slli_epi64::<L>(x), _mm256_srli_epi64::<R>(x))
    }

    /// [`steps_avx512`] with two 4-lane halves.
    #[target_feature(enable = "avx2")]
    pub(super) fn steps_avx2(s: &mut [[u64; LANES]; 4], out: &mut [u64]) {
        for half in 0..2 {
            // SAFETY: each half of a state word is 4 u64 = 32 bytes (unaligned loads).
            let [mut s0, mut s1, mut s2, mut s3] = s.map(|w| unsafe { _mm256_loadu_si256(w[4 * half..].as_ptr().cast()) });
            for chunk in out.chunks_exact_mut(LANES) {
                let r = _mm256_add_epi64(rol::<23, 41>(_mm256_add_epi64(s0, s3)), s0);
                // SAFETY: `chunk[4·half..]` holds 4 u64 = 32 bytes.
                unsafe { _mm256_storeu_si256(chunk[4 * half..].as_mut_ptr().cast(), r) };
                let t = _mm256_slli_epi64::<17>(s1);
                s2 = _mm256_xor_si256(s2, s0);
                s3 = _mm256_xor_si256(s3, s1);
                s1 = _mm256_xor_si256(s1, s2);
                s0 = _mm256_xor_si256(s0, s3);
                s2 = _mm256_xor_si256(s2, t);
                s3 = rol::<45, 19>(s3);
            }
            for (w, v) in s.iter_mut().zip([s0, s1, s2, s3]) {
                // SAFETY: as for the loads.
                unsafe { _mm256_storeu_si256(w[4 * half..].as_mut_ptr().cast(), v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_path_and_repeat_by_seed() {
        assert_eq!(stream_seed(1, &[2, 3]), stream_seed(1, &[2, 3]));
        assert_ne!(stream_seed(1, &[2, 3]), stream_seed(1, &[3, 2]));
        assert_ne!(stream_seed(1, &[2]), stream_seed(2, &[2]));
        assert_ne!(stream_seed(1, &[0]), stream_seed(1, &[]));
    }

    /// The reference xoshiro256++ of one lane (Blackman & Vigna), word by word.
    fn reference_lane(mut s: [u64; 4], n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
                let t = s[1] << 17;
                s[2] ^= s[0];
                s[3] ^= s[1];
                s[1] ^= s[2];
                s[0] ^= s[3];
                s[2] ^= t;
                s[3] = s[3].rotate_left(45);
                out
            })
            .collect()
    }

    #[test]
    fn lanes_are_xoshiro_and_interleave() {
        let mut seeder = stream(7, &[1, 2]);
        let states: Vec<[u64; 4]> = (0..LANES).map(|_| std::array::from_fn(|_| seeder.next_u64())).collect();
        let lanes: Vec<Vec<u64>> = states.iter().map(|&s| reference_lane(s, 40)).collect();
        let mut g = LaneRng::stream(7, &[1, 2]);
        let mut out = vec![0u64; 8 * 40];
        g.fill(&mut out);
        for (i, w) in out.iter().enumerate() {
            assert_eq!(*w, lanes[i % LANES][i / LANES], "word {i}");
        }
        // The reference is the rand crate's xoshiro256++ on the same state.
        let mut seed = [0u8; 32];
        for (w, bytes) in states[3].iter().zip(seed.chunks_exact_mut(8)) {
            bytes.copy_from_slice(&w.to_le_bytes());
        }
        let mut x = Xoshiro256PlusPlus::from_seed(seed);
        assert!(lanes[3].iter().all(|&w| w == x.next_u64()));
    }

    #[test]
    fn every_vector_width_gives_the_same_words() {
        let start = LaneRng::stream(3, &[4]).s;
        let portable: Vec<u64> = {
            let mut s = start;
            (0..50).flat_map(|_| LaneRng::step(&mut s)).collect()
        };
        type Steps = fn(&mut [[u64; LANES]; 4], &mut [u64]);
        let mut widths: Vec<(&str, Steps)> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked).
                widths.push(("avx2", |s, out| unsafe { x86::steps_avx2(s, out) }));
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked).
                widths.push(("avx512", |s, out| unsafe { x86::steps_avx512(s, out) }));
            }
        }
        for (name, steps) in widths {
            let (mut s, mut out) = (start, vec![0u64; 50 * LANES]);
            steps(&mut s, &mut out);
            assert_eq!(out, portable, "{name}");
        }
    }

    #[test]
    fn the_sequence_does_not_depend_on_how_it_is_requested() {
        let mut whole = vec![0u64; 301];
        LaneRng::stream(5, &[9]).fill(&mut whole);
        for sizes in [&[1usize, 7, 8, 9, 100, 3, 173][..], &[300, 1], &[5; 61]] {
            let mut g = LaneRng::stream(5, &[9]);
            let mut got = Vec::new();
            for (i, &n) in sizes.iter().cycle().enumerate() {
                if got.len() == 301 {
                    break;
                }
                let n = n.min(301 - got.len());
                let mut part = vec![0u64; n];
                if i % 2 == 0 {
                    g.fill_words(&mut part);
                } else {
                    part.iter_mut().for_each(|w| *w = g.next_u64());
                }
                got.extend(part);
            }
            assert_eq!(got, whole, "sizes {sizes:?}");
        }
    }
}

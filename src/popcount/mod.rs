//! ±1 values at one bit each and their popcount products (docs/math.md §6): the exact integer
//! arithmetic under both the packed Monte Carlo engine ([`crate::packed`]) and the fast training
//! engine's forward products ([`crate::engine`]).
//!
//! * [`bits`]: `BitMatrix`, 64 ±1 values per `u64`.
//! * [`kernel`]: XOR- and AND-popcount products with run-time CPU dispatch.

pub mod bits;
pub mod kernel;

pub use bits::BitMatrix;
pub use kernel::{PackedRows, Variant};

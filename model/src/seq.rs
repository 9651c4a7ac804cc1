//! Sequence-number spaces.
//!
//! The endpoint rules are generic over the sequence-number type so that the same rules run
//! on a small modular space in the checker (`u8`, 256 numbers: small states, and wrap-around
//! is explored rather than assumed away) and on the full 32-bit space when replaying real
//! captures (`u32`). All comparisons are modular, as RFC 9293 §3.4 requires ("all arithmetic
//! dealing with sequence numbers must be performed modulo 2**32").

use std::fmt::Debug;
use std::hash::Hash;

/// A modular sequence-number space: addition wraps and comparison is by signed distance
/// (serial-number arithmetic, RFC 9293 §3.4, RFC 1982).
pub trait SeqNum: Copy + Eq + Ord + Hash + Debug + Default + Send + Sync + 'static {
    /// Half the size of the space: distances at or beyond it are read as negative.
    const HALF: i64;

    /// `self + n` modulo the size of the space.
    fn plus(self, n: u32) -> Self;

    /// The signed distance `self - other`, in `[-HALF, HALF)`.
    fn distance(self, other: Self) -> i64;

    /// A sequence number from its raw value (truncated to the space).
    fn from_raw(raw: u32) -> Self;

    /// The raw value.
    fn raw(self) -> u32;

    /// `self < other` in sequence space.
    fn before(self, other: Self) -> bool {
        self.distance(other) < 0
    }

    /// `self <= other` in sequence space.
    fn at_or_before(self, other: Self) -> bool {
        self.distance(other) <= 0
    }

    /// `self > other` in sequence space.
    fn after(self, other: Self) -> bool {
        self.distance(other) > 0
    }
}

impl SeqNum for u8 {
    const HALF: i64 = 128;

    fn plus(self, n: u32) -> Self {
        self.wrapping_add(n as u8)
    }

    fn distance(self, other: Self) -> i64 {
        i64::from(self.wrapping_sub(other) as i8)
    }

    fn from_raw(raw: u32) -> Self {
        raw as u8
    }

    fn raw(self) -> u32 {
        u32::from(self)
    }
}

impl SeqNum for u32 {
    const HALF: i64 = 1 << 31;

    fn plus(self, n: u32) -> Self {
        self.wrapping_add(n)
    }

    fn distance(self, other: Self) -> i64 {
        i64::from(self.wrapping_sub(other) as i32)
    }

    fn from_raw(raw: u32) -> Self {
        raw
    }

    fn raw(self) -> u32 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_space_wraps_and_compares_by_distance() {
        assert_eq!(250u8.plus(10), 4);
        assert!(250u8.before(4));
        assert!(4u8.after(250));
        assert_eq!(4u8.distance(250), 10);
        assert_eq!(0u8.distance(128), -128);
    }

    #[test]
    fn full_space_wraps_and_compares_by_distance() {
        assert_eq!(u32::MAX.plus(2), 1);
        assert!(u32::MAX.before(1));
        assert_eq!(1u32.distance(u32::MAX), 2);
    }
}

//! The reference's def hashing: 64-bit FNV-1a over a typed byte stream (spec/model.md §3).

use uuid::Uuid;

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// A rolling FNV-1a hasher fed typed values with no separators, byte-compatible with the Java
/// `CheapHasher`.
#[derive(Debug, Clone, Copy)]
pub struct CheapHasher {
    state: u64,
}

impl Default for CheapHasher {
    fn default() -> Self {
        CheapHasher::new()
    }
}

impl CheapHasher {
    /// A hasher at the FNV offset basis.
    pub fn new() -> Self {
        CheapHasher {
            state: OFFSET_BASIS,
        }
    }

    /// Feeds raw bytes.
    pub fn update_bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.state ^= u64::from(*b);
            self.state = self.state.wrapping_mul(PRIME);
        }
    }

    /// Feeds one byte, 1 or 0.
    pub fn update_bool(&mut self, b: bool) {
        self.update_bytes(&[u8::from(b)]);
    }

    /// Feeds 8 little-endian bytes.
    pub fn update_long(&mut self, v: i64) {
        self.update_bytes(&v.to_le_bytes());
    }

    /// Feeds the IEEE-754 bits as a long.
    pub fn update_double(&mut self, v: f64) {
        self.update_long(v.to_bits() as i64);
    }

    /// Feeds UTF-8 bytes (an empty string feeds nothing).
    pub fn update_str(&mut self, s: &str) {
        self.update_bytes(s.as_bytes());
    }

    /// Feeds the most significant half, then the least, each as 8 little-endian bytes.
    pub fn update_uuid(&mut self, u: Uuid) {
        let (hi, lo) = u.as_u64_pair();
        self.update_long(hi as i64);
        self.update_long(lo as i64);
    }

    /// Feeds the null marker, one 0xFF byte.
    pub fn update_null(&mut self) {
        self.update_bytes(&[0xff]);
    }

    /// The hash as Java's signed long.
    pub fn finish(&self) -> i64 {
        self.state as i64
    }
}

//! Where new object ids come from. The control logic takes an `IdSource`
//! so tests can use predictable ids while the daemon uses swarmkit's
//! random format.

use rand::RngCore;

pub trait IdSource {
    fn new_id(&mut self) -> String;
}

/// swarmkit's `identity.NewID`: 17 random bytes with the top bit set,
/// written in base 36, the first digit dropped, 25 digits kept. Setting the
/// top bit fixes the length, so ids never need padding.
pub fn id_from_bytes(mut bytes: [u8; 17]) -> String {
    bytes[0] |= 0x80;
    let mut digits = Vec::with_capacity(27);
    let mut n = bytes.to_vec();
    while n.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 36) as u8;
            rem = cur % 36;
        }
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[rem as usize]);
    }
    digits.reverse();
    digits
        .iter()
        .skip(1)
        .take(25)
        .map(|&d| char::from(d))
        .collect()
}

/// Random ids from the thread's CSPRNG.
#[derive(Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn new_id(&mut self) -> String {
        let mut bytes = [0u8; 17];
        rand::rng().fill_bytes(&mut bytes);
        id_from_bytes(bytes)
    }
}

/// Predictable ids for tests: `prefix` followed by a counter, 25 long.
#[derive(Debug, Clone)]
pub struct SequentialIds {
    prefix: String,
    next: u64,
}

impl SequentialIds {
    pub fn new(prefix: &str) -> Self {
        SequentialIds {
            prefix: prefix.to_string(),
            next: 1,
        }
    }
}

impl IdSource for SequentialIds {
    fn new_id(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        let width = 25usize.saturating_sub(self.prefix.len());
        format!("{}{:0width$}", self.prefix, n, width = width)
    }
}

impl<F: FnMut() -> String> IdSource for F {
    fn new_id(&mut self) -> String {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shape() {
        for seed in [[0u8; 17], [0xff; 17], [0x5a; 17]] {
            let id = id_from_bytes(seed);
            assert_eq!(id.len(), 25, "{id}");
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
            );
        }
        let mut r = RandomIds;
        let a = r.new_id();
        let b = r.new_id();
        assert_eq!(a.len(), 25);
        assert_ne!(a, b);
    }

    #[test]
    fn known_value() {
        // 0x80 followed by zeros is 2^135: "1hvy0lj3x0b883f8e30fyp21728"
        // in base 36, first digit dropped, 25 kept.
        let mut bytes = [0u8; 17];
        bytes[0] = 0x80;
        assert_eq!(id_from_bytes(bytes), "hvy0lj3x0b883f8e30fyp2172");
        assert_eq!(id_from_bytes([0xff; 17]), "zrw1727u0mgg6ugs60vxe42e4");
    }

    #[test]
    fn sequential() {
        let mut s = SequentialIds::new("task");
        assert_eq!(s.new_id(), "task000000000000000000001");
        assert_eq!(s.new_id().len(), 25);
        let mut n = 0;
        let mut f = || {
            n += 1;
            format!("f{n}")
        };
        assert_eq!(IdSource::new_id(&mut f), "f1");
    }
}

//! Random identifiers in the shapes Cronofy uses.

use rand::Rng;
use rand::distr::Alphanumeric;

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

/// `n` characters from `[A-Za-z0-9]` (tokens, client credentials, codes).
pub(crate) fn alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn from_charset(charset: &[u8], n: usize) -> String {
    from_charset_with(&mut rand::rng(), charset, n)
}

fn from_charset_with(rng: &mut impl Rng, charset: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| char::from(charset[rng.random_range(0..charset.len())]))
        .collect()
}

/// SplitMix64: a tiny, fast, seedable generator for the layout of generated accounts (and
/// their tokens, drawn from a randomly seeded one). Not cryptographic: the fake's tokens
/// grant nothing anywhere else.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next_u64()) * n as u128;
        // The high half is below `n`, so it fits.
        usize::try_from(wide >> 64).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn chars(&mut self, charset: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(charset[self.below(charset.len())]))
            .collect()
    }

    /// `n` characters from `[a-z0-9]`.
    pub(crate) fn lower_alnum(&mut self, n: usize) -> String {
        self.chars(LOWER_ALNUM, n)
    }

    /// `n` lowercase hexadecimal digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        self.chars(HEX, n)
    }

    /// `n` characters from `[A-Za-z0-9]`.
    pub(crate) fn alnum(&mut self, n: usize) -> String {
        self.chars(ALNUM, n)
    }
}

/// `n` characters from `[a-z0-9]` (profile and calendar suffixes).
pub(crate) fn lower_alnum(n: usize) -> String {
    from_charset(LOWER_ALNUM, n)
}

/// `n` lowercase hexadecimal digits (account ids).
pub(crate) fn hex(n: usize) -> String {
    from_charset(HEX, n)
}

/// A new account id: `acc_` and 24 hex digits.
pub(crate) fn account_id() -> String {
    format!("acc_{}", hex(24))
}

/// A new profile id: `pro_` and 10 lowercase alphanumerics.
pub(crate) fn profile_id() -> String {
    format!("pro_{}", lower_alnum(10))
}

/// A new calendar id for a profile: `cal_{profile suffix}_{10 lowercase alphanumerics}`.
pub(crate) fn calendar_id(profile_id: &str) -> String {
    let suffix = profile_id.strip_prefix("pro_").unwrap_or(profile_id);
    format!("cal_{suffix}_{}", lower_alnum(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let acc = account_id();
        assert_eq!(acc.len(), 28);
        assert!(acc[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(alnum(32).len(), 32);
        let pro = profile_id();
        let cal = calendar_id(&pro);
        assert!(cal.starts_with(&format!("cal_{}_", &pro[4..])));
    }
}

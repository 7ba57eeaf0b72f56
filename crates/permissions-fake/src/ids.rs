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

/// `n` characters from `[a-z0-9]`, drawn from `rng` (deterministic ids).
pub(crate) fn lower_alnum_with(rng: &mut impl Rng, n: usize) -> String {
    from_charset_with(rng, LOWER_ALNUM, n)
}

/// `n` lowercase hexadecimal digits, drawn from `rng` (deterministic ids).
pub(crate) fn hex_with(rng: &mut impl Rng, n: usize) -> String {
    from_charset_with(rng, HEX, n)
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

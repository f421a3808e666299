//! Millisecond clock values to the whole seconds that JWTs and coturn use.

/// Whole seconds of a millisecond instant, rounded down (also before 1970),
/// so a token never claims to be issued later than it was.
pub(crate) fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_down() {
        assert_eq!(secs(1_999), 1);
        assert_eq!(secs(2_000), 2);
        assert_eq!(secs(-1), -1);
    }
}

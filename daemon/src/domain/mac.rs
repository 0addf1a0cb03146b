//! MAC addresses in the one form the store keeps: `AA:BB:CC:DD:EE:FF` (as MikroTik sends in
//! Calling-Station-Id).

/// Normalizes `aa-bb-cc-dd-ee-ff`, `aabb.ccdd.eeff`, `AABBCCDDEEFF` and the like to
/// `AA:BB:CC:DD:EE:FF`; None when it is not a MAC.
pub(crate) fn normalize(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let upper = hex.to_ascii_uppercase();
    let pairs: Vec<&str> = (0..6).map(|i| &upper[2 * i..2 * i + 2]).collect();
    Some(pairs.join(":"))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn every_common_form_normalizes_to_the_mikrotik_form() {
        for text in [
            "aa:bb:cc:dd:ee:0f",
            "AA-BB-CC-DD-EE-0F",
            "aabb.ccdd.ee0f",
            "AABBCCDDEE0F",
        ] {
            assert_eq!(
                normalize(text).as_deref(),
                Some("AA:BB:CC:DD:EE:0F"),
                "{text}"
            );
        }
        for text in ["", "AA:BB:CC:DD:EE", "GG:BB:CC:DD:EE:FF", "alice"] {
            assert_eq!(normalize(text), None, "{text}");
        }
    }
}

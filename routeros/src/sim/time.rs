//! RouterOS time values as the router takes and shows them: `1w2d3h4m5s`, `300ms`, `01:02:03`,
//! `1d02:03:04`, a bare number of seconds, and `none`.

use std::time::Duration;

/// Reads a RouterOS time. `none` and the empty string are zero (no limit, no timeout);
/// `None` when the text is not a time.
pub(crate) fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || text == "none" {
        return Some(Duration::ZERO);
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    // Unit groups first (`1w2d`), then an optional `HH:MM:SS[.fff]` clock part.
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        let after = &rest[digits..];
        if after.starts_with(':') {
            total = total.checked_add(clock_part(rest)?)?;
            return Some(total);
        }
        let (unit, len) = if after.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else {
            let secs = match after.bytes().next()? {
                b'w' => 7 * 86_400,
                b'd' => 86_400,
                b'h' => 3_600,
                b'm' => 60,
                b's' => 1,
                _ => return None,
            };
            (Duration::from_secs(secs), 1)
        };
        total = total.checked_add(unit.checked_mul(u32::try_from(number).ok()?)?)?;
        rest = &after[len..];
    }
    Some(total)
}

/// `HH:MM:SS` or `HH:MM:SS.fff` (hours may exceed 24).
fn clock_part(text: &str) -> Option<Duration> {
    let mut parts = text.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let seconds = parts.next()?;
    if parts.next().is_some() || minutes >= 60 {
        return None;
    }
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    let whole: u64 = whole.parse().ok()?;
    if whole >= 60 || !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 3 {
        return None;
    }
    let millis: u64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<3}").parse().ok()?
    };
    Some(Duration::from_millis(
        ((hours * 60 + minutes) * 60 + whole)
            .checked_mul(1000)?
            .checked_add(millis)?,
    ))
}

/// Shows a time the way RouterOS 7 prints it: `1w2d3h4m5s`, `0s`, or `300ms` below a second.
pub(crate) fn format(value: Duration) -> String {
    if value < Duration::from_secs(1) && !value.is_zero() {
        return format!("{}ms", value.as_millis());
    }
    let mut seconds = value.as_secs();
    if seconds == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, name) in [
        (604_800, 'w'),
        (86_400, 'd'),
        (3_600, 'h'),
        (60, 'm'),
        (1, 's'),
    ] {
        if seconds >= unit {
            out.push_str(&format!("{}{name}", seconds / unit));
            seconds %= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_forms_routers_use() {
        let cases = [
            ("none", Some(0)),
            ("0s", Some(0)),
            ("90", Some(90_000)),
            ("1w2d3h4m5s", Some(((9 * 24 + 3) * 60 + 4) * 60_000 + 5_000)),
            ("300ms", Some(300)),
            ("1s100ms", Some(1_100)),
            ("01:02:03", Some(3_723_000)),
            ("1d02:03:04", Some(93_784_000)),
            ("2w1d03:04:05", Some((15 * 86_400 + 11_045) * 1000)),
            ("00:00:01.5", Some(1_500)),
            ("1x", None),
            ("h", None),
            ("1:60:00", None),
            ("-5s", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).map(|d| d.as_millis() as u64), want, "{text:?}");
        }
    }

    #[test]
    fn prints_as_routeros_7() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_millis(1100)), "1s");
        assert_eq!(format(Duration::from_millis(300)), "300ms");
        assert_eq!(format(Duration::from_secs(3_723)), "1h2m3s");
        assert_eq!(format(Duration::from_secs(8 * 86_400 + 60)), "1w1d1m");
    }

    proptest! {
        #[test]
        fn printed_times_read_back(seconds in 0u64..10_000_000_000) {
            let value = Duration::from_secs(seconds);
            prop_assert_eq!(parse(&format(value)), Some(value));
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,24}") {
            let _ = parse(&text);
        }
    }
}

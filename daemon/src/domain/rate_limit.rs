//! Mikrotik-Rate-Limit: `rx/tx [burst-rx/tx [threshold-rx/tx [time-rx/tx [priority [min-rx/tx]]]]]`
//! from the router's view (rx = upload from the client). Rates are numbers with an optional
//! k/M/G suffix.

use super::DomainError;

/// A validated rate limit, kept in MikroTik's own text form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub(crate) struct RateLimit(String);

impl RateLimit {
    /// Validates `text` (e.g. `2M/4M`, `512k/2M 1M/4M 384k/1536k 16/16 8`).
    pub(crate) fn parse(text: &str) -> Result<Self, DomainError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let bad = || {
            DomainError::Invalid(format!(
                "rate limit `{text}`: expected e.g. `2M/4M` or `2M/4M 4M/8M 1M/2M 16/16 8`"
            ))
        };
        if fields.is_empty() || fields.len() > 6 {
            return Err(bad());
        }
        for (index, field) in fields.iter().enumerate() {
            let ok = if index == 4 {
                field.parse::<u8>().is_ok_and(|p| (1..=8).contains(&p))
            } else {
                field.split_once('/').is_some_and(|(rx, tx)| {
                    if index == 3 {
                        seconds(rx) && seconds(tx)
                    } else {
                        rate(rx) && rate(tx)
                    }
                })
            };
            if !ok {
                return Err(bad());
            }
        }
        Ok(Self(fields.join(" ")))
    }

    /// The text for Mikrotik-Rate-Limit.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

fn rate(text: &str) -> bool {
    let digits = text.strip_suffix(['k', 'K', 'M', 'G']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn seconds(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::RateLimit;

    #[test]
    fn accepts_mikrotik_forms_and_refuses_others() {
        for ok in [
            "2M/4M",
            "512k/2M",
            "64000/128000",
            "1M/2M 2M/4M 768k/1536k 16/16 8 256k/512k",
        ] {
            assert_eq!(RateLimit::parse(ok).expect(ok).as_str(), ok);
        }
        for bad in [
            "",
            "2M",
            "2M/4X",
            "fast",
            "1M/2M 2M/4M 1M/1M 16/16 9",
            "1M/1M a/b",
        ] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }
}

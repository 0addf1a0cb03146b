//! The attributes of an Access-Accept, typed for what a MikroTik honours: session and idle
//! timeouts, interim interval, Mikrotik-Rate-Limit, data limit (Mikrotik-Total-Limit with its
//! Gigawords), Class, Framed-IP-Address, address list, plus any extra attributes.

use std::net::Ipv4Addr;

use crate::attribute::{Attribute, ValueTooLong};
use crate::numbers::{attr, mikrotik, vendor};

/// Reply attributes for an Access-Accept. `Default` is an accept with no limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptAttributes {
    /// Session-Timeout in seconds (min of time left and time to expiry).
    pub session_timeout: Option<u32>,
    /// Idle-Timeout in seconds.
    pub idle_timeout: Option<u32>,
    /// Acct-Interim-Interval in seconds.
    pub acct_interim_interval: Option<u32>,
    /// Mikrotik-Rate-Limit, e.g. `2M/4M` (rx/tx from the router's view).
    pub rate_limit: Option<String>,
    /// Data limit in bytes, sent as Mikrotik-Total-Limit (low 32 bits) and, when needed,
    /// Mikrotik-Total-Limit-Gigawords (high 32 bits).
    pub total_limit: Option<u64>,
    /// Class, echoed by the NAS in accounting.
    pub class: Option<Vec<u8>>,
    /// Framed-IP-Address to assign.
    pub framed_ip: Option<Ipv4Addr>,
    /// Mikrotik-Address-List to put the client in.
    pub address_list: Option<String>,
    /// Reply-Message.
    pub reply_message: Option<String>,
    /// Anything else, e.g. built with [`crate::Dictionary::encode`].
    pub extra: Vec<Attribute>,
}

impl AcceptAttributes {
    /// The attributes in wire form.
    pub fn to_attributes(&self) -> Result<Vec<Attribute>, ValueTooLong> {
        let mut out = Vec::new();
        let integers = [
            (attr::SESSION_TIMEOUT, self.session_timeout),
            (attr::IDLE_TIMEOUT, self.idle_timeout),
            (attr::ACCT_INTERIM_INTERVAL, self.acct_interim_interval),
        ];
        for (kind, value) in integers {
            if let Some(value) = value {
                out.push(Attribute::integer(kind, value));
            }
        }
        if let Some(ip) = self.framed_ip {
            out.push(Attribute::ipv4(attr::FRAMED_IP_ADDRESS, ip));
        }
        if let Some(class) = &self.class {
            out.push(Attribute::new(attr::CLASS, class.clone())?);
        }
        if let Some(message) = &self.reply_message {
            out.push(Attribute::text(attr::REPLY_MESSAGE, message)?);
        }
        if let Some(rate) = &self.rate_limit {
            out.push(Attribute::vendor(
                vendor::MIKROTIK,
                mikrotik::RATE_LIMIT,
                rate.as_bytes(),
            )?);
        }
        if let Some(total) = self.total_limit {
            let (high, low) = ((total >> 32) as u32, total as u32);
            out.push(Attribute::vendor(
                vendor::MIKROTIK,
                mikrotik::TOTAL_LIMIT,
                &low.to_be_bytes(),
            )?);
            if high > 0 {
                out.push(Attribute::vendor(
                    vendor::MIKROTIK,
                    mikrotik::TOTAL_LIMIT_GIGAWORDS,
                    &high.to_be_bytes(),
                )?);
            }
        }
        if let Some(list) = &self.address_list {
            out.push(Attribute::vendor(
                vendor::MIKROTIK,
                mikrotik::ADDRESS_LIST,
                list.as_bytes(),
            )?);
        }
        out.extend(self.extra.iter().cloned());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_limit_splits_into_gigawords() {
        let reply = AcceptAttributes {
            session_timeout: Some(3600),
            rate_limit: Some("1M/2M".into()),
            total_limit: Some(5 * (1 << 32) + 7),
            ..AcceptAttributes::default()
        };
        let attributes = reply.to_attributes().unwrap();
        assert_eq!(
            attributes[0],
            Attribute::integer(attr::SESSION_TIMEOUT, 3600)
        );
        let vsas: Vec<_> = attributes
            .iter()
            .flat_map(Attribute::vendor_attributes)
            .map(|v| (v.vendor_type, v.value.to_vec()))
            .collect();
        assert_eq!(
            vsas,
            vec![
                (mikrotik::RATE_LIMIT, b"1M/2M".to_vec()),
                (mikrotik::TOTAL_LIMIT, 7u32.to_be_bytes().to_vec()),
                (mikrotik::TOTAL_LIMIT_GIGAWORDS, 5u32.to_be_bytes().to_vec()),
            ]
        );
        let small = AcceptAttributes {
            total_limit: Some(1000),
            ..AcceptAttributes::default()
        };
        assert_eq!(small.to_attributes().unwrap().len(), 1);
    }
}

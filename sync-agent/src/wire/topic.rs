//! MQTT topics of the contract: `sitebox/v1/{tenant}/{site}/{kind}`.

use std::fmt;

/// The first two topic levels: the contract's name and major version.
pub const PREFIX: &str = "sitebox/v1";

/// What travels on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// Edge → cloud: event batches (QoS 1).
    Events,
    /// Cloud → edge: the highest contiguous seq stored (QoS 1).
    Acks,
    /// Cloud → edge: commands (QoS 1, persistent session).
    Commands,
    /// Edge → cloud: command results (QoS 1).
    Results,
    /// Edge → cloud: retained online/offline, with the last will (QoS 1).
    Status,
}

impl TopicKind {
    /// Every kind.
    pub const ALL: [TopicKind; 5] = [
        TopicKind::Events,
        TopicKind::Acks,
        TopicKind::Commands,
        TopicKind::Results,
        TopicKind::Status,
    ];

    /// The last topic level.
    pub const fn as_str(self) -> &'static str {
        match self {
            TopicKind::Events => "events",
            TopicKind::Acks => "acks",
            TopicKind::Commands => "commands",
            TopicKind::Results => "results",
            TopicKind::Status => "status",
        }
    }

    /// Whether the edge publishes it (otherwise the cloud does).
    pub const fn from_edge(self) -> bool {
        matches!(
            self,
            TopicKind::Events | TopicKind::Results | TopicKind::Status
        )
    }

    fn parse(level: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == level)
    }
}

/// A site's topic of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// The tenant (ISP) id.
    pub tenant: String,
    /// The site id within the tenant.
    pub site: String,
    /// What travels on it.
    pub kind: TopicKind,
}

impl Topic {
    /// The topic of `kind` for `tenant`/`site`.
    pub fn new(tenant: &str, site: &str, kind: TopicKind) -> Self {
        Self {
            tenant: tenant.to_string(),
            site: site.to_string(),
            kind,
        }
    }

    /// Parses a topic name; None when it is not one of ours.
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix(PREFIX)?.strip_prefix('/')?;
        let mut levels = rest.split('/');
        let tenant = levels.next()?;
        let site = levels.next()?;
        let kind = TopicKind::parse(levels.next()?)?;
        if levels.next().is_some() || !valid_id(tenant) || !valid_id(site) {
            return None;
        }
        Some(Self::new(tenant, site, kind))
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}/{}/{}/{}",
            self.tenant,
            self.site,
            self.kind.as_str()
        )
    }
}

/// The filter the ingest subscribes to for one kind across every site, e.g.
/// `sitebox/v1/+/+/events`.
pub fn all_sites(kind: TopicKind) -> String {
    format!("{PREFIX}/+/+/{}", kind.as_str())
}

/// Whether `id` is a valid tenant or site id: 1-64 of `a-z 0-9 - _`. Such an id is one topic
/// level with no wildcard, and never contains `/`, `+`, `#` or `.`.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_foreign_topics() {
        let topic = Topic::new("acme", "kibera-01", TopicKind::Events);
        assert_eq!(topic.to_string(), "sitebox/v1/acme/kibera-01/events");
        assert_eq!(Topic::parse(&topic.to_string()), Some(topic));
        for bad in [
            "sitebox/v2/acme/s1/events",
            "sitebox/v1/acme/s1/events/extra",
            "sitebox/v1/acme/s1/unknown",
            "sitebox/v1/acme/events",
            "sitebox/v1/ACME/s1/events",
            "sitebox/v1/+/s1/events",
            "sitebox/v1/a.b/s1/events",
        ] {
            assert_eq!(Topic::parse(bad), None, "{bad}");
        }
        assert_eq!(all_sites(TopicKind::Results), "sitebox/v1/+/+/results");
    }
}

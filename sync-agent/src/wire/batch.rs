//! Event batches (edge → cloud on `…/events`): codec.
//!
//! A batch is one JSON object, optionally compressed as a single zstd frame. The decoder tells
//! them apart by the first bytes: a zstd frame starts with the magic `28 b5 2f fd`, JSON with
//! `{`. Decompression is capped so a hostile payload cannot balloon in the ingest.

use std::io::Read as _;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Lane, VERSION, WireError};

/// The zstd frame magic number, little-endian on the wire.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Largest decompressed batch the decoder accepts.
pub const MAX_DECODED_BYTES: usize = 16 * 1024 * 1024;

/// zstd level for batches. 9 rather than zstd's default 3: about a tenth fewer bytes for batches
/// of accounting events, at ~30 MB/s of JSON per core on the development machine (a drain of
/// 2,000-event batches spends ~30 ms per batch compressing, off the async workers).
const ZSTD_LEVEL: i32 = 9;

/// One outbox event as it travels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    /// The site's sequence number (global across lanes, never reused).
    pub seq: u64,
    /// The event id (UUIDv7).
    pub id: String,
    /// The event type, e.g. `PaymentApplied`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The payload's schema version.
    #[serde(rename = "sv")]
    pub schema_version: u32,
    /// Box wall clock when it happened, ms since the Unix epoch.
    #[serde(rename = "at")]
    pub occurred_at: i64,
    /// Which run of the daemon wrote it.
    #[serde(rename = "boot")]
    pub boot_id: String,
    /// Monotonic ms since that run started.
    #[serde(rename = "up")]
    pub uptime_ms: i64,
    /// What it happened to, e.g. `job:42`.
    pub subject: String,
    /// The event's data, as stored.
    pub payload: Box<RawValue>,
}

/// A batch of events of one lane, in seq order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    /// Contract version ([`VERSION`]).
    pub v: u32,
    /// The tenant the edge claims; the ingest checks it against the topic and the registry.
    pub tenant: String,
    /// The site the edge claims.
    pub site: String,
    /// The edge's id for this batch, echoed in the ack that covers it.
    pub batch: u64,
    /// The lane the events were taken from.
    pub lane: Lane,
    /// The boot id of the sender (the run of siteboxd that sent it).
    pub boot_id: String,
    /// Sender's wall clock when it sent the batch, ms.
    pub sent_at: i64,
    /// The edge's last estimate of (its clock − server clock), ms, from the last ack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew_ms: Option<i64>,
    /// Events in ascending seq.
    pub events: Vec<WireEvent>,
    /// Seqs of telemetry events dropped at the edge under its disk budget: they will never be
    /// sent, and the cloud counts them as present so its cursor can pass them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<u64>,
    /// The highest seq the site had written when it built the batch: with the cloud's cursor,
    /// how much the site still has to send (its backlog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<u64>,
}

impl Batch {
    /// The lowest seq the batch carries (events or dropped), if any.
    pub fn first_seq(&self) -> Option<u64> {
        let events = self.events.first().map(|e| e.seq);
        let dropped = self.dropped.first().copied();
        events.into_iter().chain(dropped).min()
    }

    /// The highest seq the batch carries, if any.
    pub fn last_seq(&self) -> Option<u64> {
        let events = self.events.last().map(|e| e.seq);
        let dropped = self.dropped.last().copied();
        events.into_iter().chain(dropped).max()
    }

    /// Encodes the batch, as one zstd frame when `compress`.
    pub fn encode(&self, compress: bool) -> Result<Vec<u8>, WireError> {
        let json = serde_json::to_vec(self).map_err(WireError::Json)?;
        if compress {
            zstd::bulk::compress(&json, ZSTD_LEVEL).map_err(WireError::Compress)
        } else {
            Ok(json)
        }
    }

    /// Decodes a batch (plain or zstd) and checks it: known version, ids valid, seqs ascending
    /// and non-zero.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let batch: Batch = if bytes.starts_with(&ZSTD_MAGIC) {
            let json = decompress_capped(bytes)?;
            serde_json::from_slice(&json).map_err(WireError::Json)?
        } else {
            serde_json::from_slice(bytes).map_err(WireError::Json)?
        };
        batch.check()?;
        Ok(batch)
    }

    fn check(&self) -> Result<(), WireError> {
        if self.v != VERSION {
            return Err(WireError::Version(self.v));
        }
        if !super::valid_id(&self.tenant) || !super::valid_id(&self.site) {
            return Err(WireError::Invalid("tenant or site id"));
        }
        if !ascending(self.events.iter().map(|e| e.seq)) || !ascending(self.dropped.iter().copied())
        {
            return Err(WireError::Invalid("seqs must be non-zero and ascending"));
        }
        Ok(())
    }
}

fn ascending(seqs: impl Iterator<Item = u64>) -> bool {
    let mut last = 0;
    for seq in seqs {
        if seq <= last {
            return false;
        }
        last = seq;
    }
    true
}

fn decompress_capped(bytes: &[u8]) -> Result<Vec<u8>, WireError> {
    let decoder = zstd::stream::read::Decoder::new(bytes).map_err(WireError::Compress)?;
    let mut json = Vec::new();
    let limit = u64::try_from(MAX_DECODED_BYTES).unwrap_or(u64::MAX) + 1;
    decoder
        .take(limit)
        .read_to_end(&mut json)
        .map_err(WireError::Compress)?;
    if json.len() > MAX_DECODED_BYTES {
        return Err(WireError::TooLarge(MAX_DECODED_BYTES));
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn event(seq: u64) -> WireEvent {
        WireEvent {
            seq,
            id: format!("0198d2c4-7a00-7000-8000-{seq:012}"),
            kind: "JobFailed".into(),
            schema_version: 1,
            occurred_at: 1_700_000_000_000 + i64::try_from(seq).unwrap_or(0),
            boot_id: "0198d2c4-0000-7000-8000-000000000001".into(),
            uptime_ms: 5_000,
            subject: format!("job:{seq}"),
            payload: RawValue::from_string(format!("{{\"job_id\":{seq}}}")).expect("raw"),
        }
    }

    fn batch(events: Vec<WireEvent>) -> Batch {
        Batch {
            v: VERSION,
            tenant: "acme".into(),
            site: "s1".into(),
            batch: 7,
            lane: Lane::Events,
            boot_id: "b".into(),
            sent_at: 1,
            skew_ms: None,
            events,
            dropped: vec![],
            head: None,
        }
    }

    #[test]
    fn plain_json_has_the_documented_shape() {
        let bytes = batch(vec![event(1)]).encode(false).expect("encode");
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            r#"{"v":1,"tenant":"acme","site":"s1","batch":7,"lane":"events","boot_id":"b","sent_at":1,"events":[{"seq":1,"id":"0198d2c4-7a00-7000-8000-000000000001","type":"JobFailed","sv":1,"at":1700000000001,"boot":"0198d2c4-0000-7000-8000-000000000001","up":5000,"subject":"job:1","payload":{"job_id":1}}]}"#
        );
    }

    #[test]
    fn zstd_round_trips_and_starts_with_the_magic() {
        let original = batch((1..=500).map(event).collect());
        let bytes = original.encode(true).expect("encode");
        assert_eq!(bytes[..4], ZSTD_MAGIC);
        let decoded = Batch::decode(&bytes).expect("decode");
        assert_eq!(decoded.events.len(), 500);
        assert_eq!(decoded.first_seq(), Some(1));
        assert_eq!(decoded.last_seq(), Some(500));
        assert_eq!(decoded.events[41].payload.get(), r#"{"job_id":42}"#);
        assert!(bytes.len() < 500 * 60, "{} bytes", bytes.len());
    }

    #[test]
    fn refuses_unknown_versions_bad_ids_disorder_and_bombs() {
        let mut b = batch(vec![event(2), event(1)]);
        assert!(matches!(
            Batch::decode(&b.encode(false).expect("encode")),
            Err(WireError::Invalid(_))
        ));
        b.events.reverse();
        b.v = 2;
        assert!(matches!(
            Batch::decode(&b.encode(true).expect("encode")),
            Err(WireError::Version(2))
        ));
        b.v = VERSION;
        b.tenant = "a/b".into();
        assert!(Batch::decode(&b.encode(false).expect("encode")).is_err());
        let bomb = zstd::bulk::compress(&vec![b' '; MAX_DECODED_BYTES + 10], 3).expect("bomb");
        assert!(matches!(Batch::decode(&bomb), Err(WireError::TooLarge(_))));
        assert!(Batch::decode(b"\x28\xb5\x2f\xfdgarbage").is_err());
        assert!(Batch::decode(b"not json").is_err());
    }
}

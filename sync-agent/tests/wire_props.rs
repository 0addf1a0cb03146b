//! Properties of the edge↔cloud decoders, which read bytes an MQTT broker hands over: any input
//! (plain, behind the zstd magic, compressed, or a valid batch with a byte changed) is refused
//! with an error or decoded and checked, never a panic; what the encoders write decodes to the
//! same value. (The decompression cap has its own unit test in `wire/batch.rs`.)

use proptest::prelude::*;
use serde_json::value::RawValue;
use sitebox_sync::wire::{
    Ack, Batch, Command, CommandResult, CommandState, Lane, Presence, Status, Topic, TopicKind,
    VERSION, WireEvent, ZSTD_MAGIC, valid_id,
};

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,64}"
}

fn lane() -> impl Strategy<Value = Lane> {
    prop::sample::select(Lane::ALL.to_vec())
}

fn topic_kind() -> impl Strategy<Value = TopicKind> {
    prop::sample::select(TopicKind::ALL.to_vec())
}

/// Strictly ascending, non-zero seqs.
fn seqs(max: usize) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::btree_set(1u64..1_000_000, 0..max).prop_map(|s| s.into_iter().collect())
}

fn event(seq: u64, text: &str, number: i64) -> WireEvent {
    WireEvent {
        seq,
        id: format!("0198d2c4-7a00-7000-8000-{seq:012}"),
        kind: "SessionUpdated".into(),
        schema_version: 1,
        occurred_at: number,
        boot_id: "0198d2c4-0000-7000-8000-000000000001".into(),
        uptime_ms: number.wrapping_abs(),
        subject: text.to_owned(),
        payload: RawValue::from_string(
            serde_json::json!({ "text": text, "n": number }).to_string(),
        )
        .expect("raw json"),
    }
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        id(),
        id(),
        any::<u64>(),
        lane(),
        any::<i64>(),
        prop::option::of(any::<i64>()),
        seqs(20),
        seqs(5),
        ".{0,40}",
        any::<i64>(),
    )
        .prop_map(
            |(tenant, site, batch, lane, sent_at, skew_ms, events, dropped, text, number)| Batch {
                v: VERSION,
                tenant,
                site,
                batch,
                lane,
                boot_id: "0198d2c4-0000-7000-8000-000000000001".into(),
                sent_at,
                skew_ms,
                events: events.iter().map(|&s| event(s, &text, number)).collect(),
                head: dropped.last().map(|d| d + 1),
                dropped,
            },
        )
}

/// Batches compared as JSON (a raw payload has no equality of its own).
fn json(batch: &Batch) -> serde_json::Value {
    serde_json::to_value(batch).expect("batch to json")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_decoder_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Batch::decode(&bytes);
        let _ = Ack::decode(&bytes);
        let _ = Command::decode(&bytes);
        let _ = CommandResult::decode(&bytes);
        let _ = Status::decode(&bytes);
    }

    #[test]
    fn bytes_behind_the_zstd_magic_are_refused_or_decoded(
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = ZSTD_MAGIC.to_vec();
        bytes.extend(tail);
        let _ = Batch::decode(&bytes);
    }

    #[test]
    fn any_compressed_bytes_are_refused_or_decoded(
        inner in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let bytes = zstd::bulk::compress(&inner, 3).expect("compress");
        let _ = Batch::decode(&bytes);
    }

    #[test]
    fn batches_round_trip_plain_and_compressed(batch in batch(), compress in any::<bool>()) {
        let bytes = batch.encode(compress).expect("encode");
        prop_assert_eq!(bytes.starts_with(&ZSTD_MAGIC), compress);
        let decoded = Batch::decode(&bytes).expect("decode");
        prop_assert_eq!(json(&decoded), json(&batch));
        prop_assert_eq!(decoded.first_seq(), batch.first_seq());
        prop_assert_eq!(decoded.last_seq(), batch.last_seq());
    }

    #[test]
    fn a_damaged_batch_is_refused_or_still_checked(
        batch in batch(),
        compress in any::<bool>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut bytes = batch.encode(compress).expect("encode");
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(decoded) = Batch::decode(&bytes) {
            // Whatever got through passed the checks.
            prop_assert_eq!(decoded.v, VERSION);
            prop_assert!(valid_id(&decoded.tenant) && valid_id(&decoded.site));
            prop_assert!(decoded.events.windows(2).all(|w| w[0].seq < w[1].seq));
            prop_assert!(decoded.events.first().is_none_or(|e| e.seq > 0));
        }
    }

    #[test]
    fn acks_commands_results_and_status_round_trip(
        through in any::<u64>(),
        batch in prop::option::of(any::<u64>()),
        time in any::<i64>(),
        command_id in "[a-zA-Z0-9-]{1,128}",
        kind in "[a-z_.]{1,40}",
        text in ".{0,40}",
        applied in any::<bool>(),
        repeat in any::<bool>(),
        online in any::<bool>(),
    ) {
        let ack = Ack { v: VERSION, through, batch, server_time: time };
        prop_assert_eq!(Ack::decode(&ack.encode()).expect("ack"), ack);
        let command = Command {
            v: VERSION,
            id: command_id.clone(),
            kind: kind.clone(),
            payload: serde_json::json!({ "text": text }),
            issued_at: time,
        };
        prop_assert_eq!(Command::decode(&command.encode()).expect("command"), command);
        let result = CommandResult {
            v: VERSION,
            id: command_id,
            kind,
            state: if applied { CommandState::Applied } else { CommandState::Rejected },
            result: serde_json::json!({ "error": text }),
            handled_at: time,
            repeat,
        };
        prop_assert_eq!(CommandResult::decode(&result.encode()).expect("result"), result);
        let status = Status {
            v: VERSION,
            state: if online { Presence::Online } else { Presence::Offline },
            boot_id: Some(text.clone()),
            version: None,
            at: time,
        };
        prop_assert_eq!(Status::decode(&status.encode()).expect("status"), status);
    }

    #[test]
    fn topics_parse_what_they_print_and_nothing_else_panics(
        tenant in id(),
        site in id(),
        kind in topic_kind(),
        noise in ".{0,80}",
    ) {
        let topic = Topic::new(&tenant, &site, kind);
        prop_assert_eq!(Topic::parse(&topic.to_string()), Some(topic));
        if let Some(parsed) = Topic::parse(&noise) {
            prop_assert!(valid_id(&parsed.tenant) && valid_id(&parsed.site));
        }
    }
}

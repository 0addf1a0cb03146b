use serde_json::json;
use sitebox_sync::wire::Lane;

use super::*;
use crate::model::event::{Actor, EventKind, NewEvent};
use crate::store::testing::temp_store;

fn emit(store: &crate::store::Store, kinds: &[EventKind]) {
    let kinds = kinds.to_vec();
    store
        .write_blocking(move |tx| -> Result<(), StoreError> {
            for kind in kinds {
                tx.emit(
                    Timestamp::from_millis(1),
                    &Actor::System,
                    NewEvent::recorded(kind, "router:1", json!({ "pad": "x".repeat(200) })),
                )?;
            }
            Ok(())
        })
        .expect("emit");
}

#[test]
fn lanes_read_apart_and_acks_mark_only_through_the_cursor() {
    let (store, _dir) = temp_store();
    emit(
        &store,
        &[
            EventKind::SessionUpdated,
            EventKind::PaymentApplied,
            EventKind::JobFailed,
            EventKind::PaymentApplied,
        ],
    );
    let pay = store
        .read_blocking(|c| unacked(c, Lane::Payments, 0, 10))
        .expect("read");
    assert_eq!(pay.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 4]);
    let marked = store
        .write_blocking(|tx| mark_acked(tx, 2, 5, -3, Timestamp::from_millis(9)))
        .expect("mark");
    assert_eq!(marked, 2);
    assert_eq!(store.read_blocking(cursor).expect("cursor"), 2);
    store
        .write_blocking(|tx| mark_acked(tx, 1, 5, -3, Timestamp::from_millis(9)))
        .expect("mark");
    assert_eq!(
        store.read_blocking(cursor).expect("cursor"),
        2,
        "never lowered"
    );
    let pay = store
        .read_blocking(|c| unacked(c, Lane::Payments, 0, 10))
        .expect("read");
    assert_eq!(pay.iter().map(|e| e.seq).collect::<Vec<_>>(), [4]);
    let status = store.read_blocking(status).expect("status");
    assert_eq!(status.skew_ms, Some(-3));
    assert_eq!(status.last_seq, 4);
}

#[test]
fn the_budget_drops_oldest_telemetry_only_and_the_seqs_are_sent_as_dropped() {
    let (store, _dir) = temp_store();
    let mut kinds = Vec::new();
    for _ in 0..3000 {
        kinds.extend([EventKind::SessionUpdated, EventKind::PaymentApplied]);
    }
    emit(&store, &kinds);
    let now = Timestamp::from_millis(100);
    let report = store
        .write_blocking(move |tx| enforce_budget(tx, 1536 * 1024, now, now))
        .expect("budget");
    assert!(report.backlog_bytes > 1536 * 1024, "{report:?}");
    assert!(report.dropped > 0 && report.dropped < 3000, "{report:?}");
    let payments = store
        .read_blocking(|c| unacked(c, Lane::Payments, 0, 10_000))
        .expect("read");
    assert_eq!(payments.len(), 3000, "payments are never dropped");
    let dropped = store
        .read_blocking(|c| dropped_after(c, 0, 10_000))
        .expect("dropped");
    assert_eq!(dropped.len() as u64, report.dropped);
    assert_eq!(dropped[0], 1, "the oldest telemetry goes first");
    let again = store
        .write_blocking(move |tx| enforce_budget(tx, 1536 * 1024, now, now))
        .expect("budget");
    assert_eq!(again.dropped, 0, "under budget now");
    store
        .write_blocking(|tx| mark_acked(tx, 6000, 0, 0, Timestamp::from_millis(50)))
        .expect("mark");
    assert!(
        store
            .read_blocking(|c| dropped_after(c, 0, 10))
            .expect("dropped")
            .is_empty()
    );
    let status = store.read_blocking(status).expect("status");
    assert_eq!(status.dropped_telemetry, report.dropped);
    let pruned = store
        .write_blocking(move |tx| enforce_budget(tx, 1536 * 1024, Timestamp::from_millis(51), now))
        .expect("prune");
    assert_eq!(pruned.pruned, 6000 - report.dropped);
}

#[test]
fn resend_from_unacks_and_lowers_the_cursor() {
    let (store, _dir) = temp_store();
    emit(&store, &[EventKind::JobFailed; 5]);
    store
        .write_blocking(|tx| mark_acked(tx, 5, 0, 0, Timestamp::from_millis(1)))
        .expect("mark");
    let resend = store
        .write_blocking(|tx| resend_from(tx, 3, 0))
        .expect("resend");
    assert!(!resend.overtaken);
    assert_eq!(resend.cursor, 2);
    assert_eq!(resend.unacked_again, 3);
    assert_eq!(resend.oldest_held, Some(1));
    let events = store
        .read_blocking(|c| unacked(c, Lane::Events, 0, 10))
        .expect("read");
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
}

#[test]
fn a_resend_request_overtaken_by_a_later_ack_rewinds_nothing() {
    let (store, _dir) = temp_store();
    emit(&store, &[EventKind::JobFailed; 5]);
    // The cloud asked at its t=1,000 for seq 2 on; an ack it committed at t=2,000 covers 5.
    store
        .write_blocking(|tx| mark_acked(tx, 5, 2_000, 0, Timestamp::from_millis(1)))
        .expect("mark");
    let stale = store
        .write_blocking(|tx| resend_from(tx, 2, 1_000))
        .expect("resend");
    assert!(stale.overtaken);
    assert_eq!((stale.cursor, stale.unacked_again), (5, 0));
    assert_eq!(store.read_blocking(cursor).expect("cursor"), 5);
    // Asked after that ack (the cloud lost what it had acked): applied.
    let fresh = store
        .write_blocking(|tx| resend_from(tx, 2, 3_000))
        .expect("resend");
    assert!(!fresh.overtaken);
    assert_eq!((fresh.cursor, fresh.unacked_again), (1, 4));
}

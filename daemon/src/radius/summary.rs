//! Rejected logins, summed per router and reason into one AuthRejected event per period, so a
//! storm of bad passwords costs the outbox one row a minute, not one per packet.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sitebox_radius::Counters;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::model::event::payload::AuthRejected;
use crate::model::event::{Actor, NewEvent};
use crate::store::{Store, StoreError};

/// Every `every`, emits the rejects counted since the last summary (nothing when none).
pub(crate) async fn summarize_rejects(
    store: Store,
    clock: SharedClock,
    counters: Arc<Counters>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut last: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let mut now_counts = BTreeMap::new();
        for (nas, counts) in counters.snapshot().nas {
            for (reason, count) in counts.rejects {
                now_counts.insert((nas.clone(), reason.as_str().to_string()), count);
            }
        }
        let mut by_nas: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (key, count) in &now_counts {
            let new = count.saturating_sub(last.get(key).copied().unwrap_or(0));
            if new > 0 {
                by_nas
                    .entry(key.0.clone())
                    .or_default()
                    .insert(key.1.clone(), new);
            }
        }
        last = now_counts;
        if by_nas.is_empty() {
            continue;
        }
        let now = clock.now();
        let total: u64 = by_nas.values().flat_map(|reasons| reasons.values()).sum();
        let payload = AuthRejected {
            period_s: every.as_secs(),
            total,
            by_router: by_nas,
        };
        let written = store
            .write(move |tx| tx.emit(now, &Actor::System, NewEvent::new("radius", &payload)))
            .await;
        if let Err(err) = written {
            let err: StoreError = err;
            tracing::error!(error = %err, "could not record the reject summary");
        }
    }
}

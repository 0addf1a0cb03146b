//! A site's events as the daemon writes them (the payload shapes of `daemon/src/domain/`,
//! `queue/`, `jobs/health.rs`, `radius/summary.rs`), generated from a seed: subscribers come and
//! pay or redeem vouchers, sessions start, update and stop (a router's late Stop arriving after
//! the site closed the session included), subscriptions end, routers go down and up, jobs fail
//! and are retried or discarded, RADIUS rejects are reported. For the cloud's projection tests
//! and the fleet benchmark, which send them as the edge would, in batches per lane.

use serde_json::json;
use serde_json::value::RawValue;
use sitebox_sync::wire::{Batch, Lane, VERSION, WireEvent};

/// One generated event and the lane the edge sends it in.
#[derive(Debug, Clone)]
pub struct SiteEvent {
    /// The event.
    pub event: WireEvent,
    /// Its lane.
    pub lane: Lane,
}

/// What to include beyond the daemon's own events.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    /// An event of a type no projection knows (a newer daemon's).
    pub unknown_type: bool,
    /// A session event whose payload lacks its id (a projection cannot apply it).
    pub malformed: bool,
}

fn lane_of(kind: &str) -> Lane {
    match kind {
        "PaymentReceived" | "PaymentApplied" | "PaymentRejected" => Lane::Payments,
        "SessionUpdated" | "AuthRejected" | "RouterStatusChanged" => Lane::Telemetry,
        _ => Lane::Events,
    }
}

struct Session {
    id: i64,
    router: i64,
    acct: String,
    username: String,
    subscriber: i64,
    mac: String,
    ip: String,
    seconds: i64,
    input: i64,
    output: i64,
}

impl Session {
    fn payload(&self, cause: Option<i64>) -> serde_json::Value {
        json!({
            "session_id": self.id, "router_id": self.router, "acct_session_id": self.acct,
            "username": self.username, "mac": self.mac, "framed_ip": self.ip,
            "subscriber_id": self.subscriber, "session_time_s": self.seconds,
            "input_octets": self.input, "output_octets": self.output, "terminate_cause": cause,
        })
    }
}

/// Generates about `size` events of one site's day from `seed`, starting at `start_ms` (box
/// clock), seqs from 1.
pub fn site_day(seed: u64, size: usize, start_ms: i64, extras: Extras) -> Vec<SiteEvent> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let boot = format!("0198d2c4-0000-7000-8000-{:012x}", seed % (1 << 48));
    let mut out: Vec<SiteEvent> = Vec::with_capacity(size + 16);
    let mut at = start_ms;
    let push = |out: &mut Vec<SiteEvent>,
                at: i64,
                kind: &str,
                subject: String,
                payload: serde_json::Value| {
        let seq = out.len() as u64 + 1;
        out.push(SiteEvent {
            lane: lane_of(kind),
            event: WireEvent {
                seq,
                id: format!(
                    "0198d2c4-7a00-7000-8000-{:012x}",
                    (seed.wrapping_mul(1_000_003) + seq) % (1 << 48)
                ),
                kind: kind.to_string(),
                schema_version: 1,
                occurred_at: at,
                boot_id: boot.clone(),
                uptime_ms: at - start_ms + 5_000,
                subject,
                payload: RawValue::from_string(payload.to_string()).expect("json"),
            },
        });
    };
    for (id, name) in [(1, "gw1"), (2, "gw2")] {
        push(
            &mut out,
            at,
            "RouterAdded",
            format!("router:{name}"),
            json!({
                "id": id, "name": name, "nas_ip": format!("10.0.0.{id}"), "nas_identifier": name,
                "coa_port": 3799, "require_message_authenticator": true, "api_host": format!("10.0.0.{id}"),
                "api_port": 8728, "api_tls": false, "api_fingerprint": null, "api_user": "admin",
                "codepage": "utf-8", "state": "active", "status": "unknown", "status_detail": null,
            }),
        );
    }
    push(
        &mut out,
        at,
        "PlanCreated",
        "plan:day".into(),
        json!({"id": 1, "name": "day", "price": 50, "currency": "KES", "validity_s": 86400, "state": "active"}),
    );
    let batch = format!("B{}-{:04X}", start_ms / 1000, seed % 0xFFFF);
    push(
        &mut out,
        at,
        "VouchersGenerated",
        format!("batch:{batch}"),
        json!({"batch": batch, "plan": "day", "count": 50}),
    );
    let mut subscribers: Vec<(i64, String, Vec<String>)> = Vec::new();
    let mut sessions: Vec<Session> = Vec::new();
    let mut subscriptions: Vec<(i64, i64)> = Vec::new();
    let mut failed: Vec<i64> = Vec::new();
    let mut closed: Vec<Session> = Vec::new();
    let (mut next_payment, mut next_session, mut next_subscription, mut next_job, mut next_voucher) =
        (1i64, 1i64, 1i64, 1i64, 1i64);
    let mut router_down = [false, false];
    let new_subscriber = |out: &mut Vec<SiteEvent>,
                          rng: &mut fastrand::Rng,
                          at: i64,
                          subscribers: &mut Vec<(i64, String, Vec<String>)>,
                          name: Option<String>| {
        let id = subscribers.len() as i64 + 1;
        let username = name.unwrap_or_else(|| format!("u{id:05}"));
        push(
            out,
            at,
            "SubscriberCreated",
            format!("subscriber:{username}"),
            json!({
                "id": id, "username": username, "kind": "hotspot", "mac_auth": rng.bool(),
                "phone": format!("2547*****{:03}", rng.u16(..1000)), "state": "active", "macs": [],
            }),
        );
        subscribers.push((id, username, Vec::new()));
        id
    };
    while out.len() < size {
        at += rng.i64(1_000..60_000);
        let roll = rng.u32(..100);
        match roll {
            0..=5 => {
                new_subscriber(&mut out, &mut rng, at, &mut subscribers, None);
            }
            6..=13 if !subscribers.is_empty() => {
                // An M-Pesa payment, applied (or refused), and the plan it starts.
                let (sub_id, username, _) = subscribers[rng.usize(..subscribers.len())].clone();
                let receipt = format!("Q{:03X}{:06}", seed % 0xFFF, next_payment);
                let record = json!({
                    "payment_id": next_payment, "provider": "mpesa", "receipt": receipt,
                    "amount": 50, "currency": "KES", "phone": "2547*****678", "plan": "day",
                    "username": username,
                });
                next_payment += 1;
                push(
                    &mut out,
                    at,
                    "PaymentReceived",
                    format!("payment:{receipt}"),
                    record.clone(),
                );
                if rng.u8(..10) == 0 {
                    let mut rejected = record;
                    rejected["reason"] = json!("plan `day` is disabled");
                    push(
                        &mut out,
                        at,
                        "PaymentRejected",
                        format!("payment:{receipt}"),
                        rejected,
                    );
                } else {
                    let sid = next_subscription;
                    next_subscription += 1;
                    push(
                        &mut out,
                        at,
                        "SubscriptionStarted",
                        format!("subscription:{sid}"),
                        json!({
                            "subscription_id": sid, "subscriber_id": sub_id, "plan": "day",
                            "starts_at": at, "expires_at": at + 86_400_000, "source": "mpesa",
                        }),
                    );
                    let mut applied = record;
                    applied["subscription_id"] = json!(sid);
                    push(
                        &mut out,
                        at,
                        "PaymentApplied",
                        format!("payment:{receipt}"),
                        applied,
                    );
                    subscriptions.push((sid, sub_id));
                }
            }
            14..=16 => {
                // A voucher sold: its code becomes a subscriber with a subscription.
                let code = format!("V{:04X}{next_voucher:04}", seed % 0xFFFF);
                let sub_id = new_subscriber(
                    &mut out,
                    &mut rng,
                    at,
                    &mut subscribers,
                    Some(code.to_lowercase()),
                );
                let sid = next_subscription;
                next_subscription += 1;
                push(
                    &mut out,
                    at,
                    "SubscriptionStarted",
                    format!("subscription:{sid}"),
                    json!({
                        "subscription_id": sid, "subscriber_id": sub_id, "plan": "day",
                        "starts_at": at, "expires_at": at + 86_400_000, "source": "voucher",
                    }),
                );
                push(
                    &mut out,
                    at,
                    "VoucherRedeemed",
                    format!("voucher:{code}"),
                    json!({
                        "voucher_id": next_voucher, "code": code, "batch": batch, "plan": "day",
                        "subscriber_id": sub_id, "subscription_id": sid,
                    }),
                );
                next_voucher += 1;
                subscriptions.push((sid, sub_id));
            }
            17..=19 if !subscribers.is_empty() => {
                let i = rng.usize(..subscribers.len());
                let mac = format!(
                    "02:00:00:{:02X}:{:02X}:{:02X}",
                    rng.u8(..),
                    rng.u8(..),
                    rng.u8(..)
                );
                let (id, username, macs) = &mut subscribers[i];
                if rng.bool() {
                    push(
                        &mut out,
                        at,
                        "SubscriberMacBound",
                        format!("subscriber:{username}"),
                        json!({"username": username, "mac": mac}),
                    );
                    macs.push(mac);
                } else {
                    push(
                        &mut out,
                        at,
                        "SubscriberUpdated",
                        format!("subscriber:{username}"),
                        json!({
                            "id": id, "username": username, "kind": "hotspot", "mac_auth": false,
                            "phone": "2547*****678", "state": if rng.bool() { "active" } else { "suspended" },
                            "macs": macs,
                        }),
                    );
                }
            }
            20..=27 if !subscribers.is_empty() => {
                let (sub_id, username, _) = subscribers[rng.usize(..subscribers.len())].clone();
                let session = Session {
                    id: next_session,
                    router: rng.i64(1..=2),
                    acct: format!("{:08x}", rng.u32(..)),
                    username,
                    subscriber: sub_id,
                    mac: format!(
                        "02:00:00:{:02X}:{:02X}:{:02X}",
                        rng.u8(..),
                        rng.u8(..),
                        rng.u8(..)
                    ),
                    ip: format!("10.5.{}.{}", rng.u8(..), rng.u8(1..255)),
                    seconds: 0,
                    input: 0,
                    output: 0,
                };
                next_session += 1;
                push(
                    &mut out,
                    at,
                    "SessionStarted",
                    format!("session:{}", session.id),
                    session.payload(None),
                );
                sessions.push(session);
            }
            28..=34 if !sessions.is_empty() => {
                let mut session = sessions.swap_remove(rng.usize(..sessions.len()));
                session.seconds += rng.i64(60..3600);
                session.input += rng.i64(0..50_000_000);
                session.output += rng.i64(0..5_000_000);
                let cause = [1, 4, 6, 11][rng.usize(..4)];
                push(
                    &mut out,
                    at,
                    "SessionStopped",
                    format!("session:{}", session.id),
                    session.payload(Some(cause)),
                );
                closed.push(session);
            }
            35..=36 if !closed.is_empty() => {
                // The router's own Stop after the site closed it: its final counters.
                let i = rng.usize(..closed.len());
                let session = &mut closed[i];
                session.seconds += rng.i64(1..60);
                session.input += rng.i64(0..1_000_000);
                push(
                    &mut out,
                    at,
                    "SessionUpdated",
                    format!("session:{}", session.id),
                    session.payload(None),
                );
            }
            37..=38 if !subscriptions.is_empty() => {
                let (sid, sub_id) = subscriptions.swap_remove(rng.usize(..subscriptions.len()));
                push(
                    &mut out,
                    at,
                    "SubscriptionExpired",
                    format!("subscription:{sid}"),
                    json!({
                        "subscription_id": sid, "subscriber_id": sub_id,
                        "reason": if rng.u8(..4) == 0 { "exhausted" } else { "expired" },
                        "expires_at": at, "used_seconds": rng.i64(0..86_400), "used_bytes": rng.i64(0..1 << 32),
                        "sessions_to_disconnect": rng.u8(..3),
                    }),
                );
            }
            39 => {
                let r = rng.usize(..2);
                let name = format!("gw{}", r + 1);
                let (status, previous) = if router_down[r] {
                    ("up", "down")
                } else {
                    ("down", "up")
                };
                router_down[r] = !router_down[r];
                push(
                    &mut out,
                    at,
                    "RouterStatusChanged",
                    format!("router:{name}"),
                    json!({
                        "router": name, "status": status, "previous_status": previous,
                        "ros_version": "7.16.1", "previous_version": "7.16.1", "identity": format!("MikroTik-{name}"),
                        "latency_ms": if status == "up" { json!(rng.i64(1..40)) } else { json!(null) },
                        "detail": if status == "up" { json!(null) } else { json!("connect timed out") },
                    }),
                );
            }
            40 => {
                let id = next_job;
                next_job += 1;
                push(
                    &mut out,
                    at,
                    "JobFailed",
                    format!("job:{id}"),
                    json!({
                        "job_id": id, "queue": "provisioning", "kind": "provision.subscriber",
                        "attempts": 8, "error": "router gw2: connection refused",
                    }),
                );
                failed.push(id);
            }
            41 if !failed.is_empty() => {
                let id = failed.swap_remove(rng.usize(..failed.len()));
                if rng.bool() {
                    push(
                        &mut out,
                        at,
                        "JobRetried",
                        format!("job:{id}"),
                        json!({"job_id": id, "outcome": "queued"}),
                    );
                } else {
                    push(
                        &mut out,
                        at,
                        "JobDiscarded",
                        format!("job:{id}"),
                        json!({
                            "job_id": id, "queue": "provisioning", "kind": "provision.subscriber",
                            "error": "router gw2: connection refused",
                        }),
                    );
                }
            }
            42..=43 => {
                let total = rng.u64(1..40);
                push(
                    &mut out,
                    at,
                    "AuthRejected",
                    "radius".into(),
                    json!({
                        "period_s": 60, "total": total,
                        "by_router": {"gw1": {"bad_password": total}},
                    }),
                );
            }
            44 => {
                push(
                    &mut out,
                    at,
                    "TechnicianAction",
                    "technician:tech".into(),
                    json!({"action": "queue.retry", "detail": {}}),
                );
            }
            _ if !sessions.is_empty() => {
                let i = rng.usize(..sessions.len());
                let session = &mut sessions[i];
                session.seconds += 300;
                session.input += rng.i64(0..50_000_000);
                session.output += rng.i64(0..5_000_000);
                push(
                    &mut out,
                    at,
                    "SessionUpdated",
                    format!("session:{}", session.id),
                    session.payload(None),
                );
            }
            _ => {}
        }
    }
    if extras.unknown_type {
        push(
            &mut out,
            at,
            "FutureThing",
            "thing:1".into(),
            json!({"x": 1}),
        );
    }
    if extras.malformed {
        push(
            &mut out,
            at,
            "SessionUpdated",
            "session:?".into(),
            json!({"router_id": 1}),
        );
    }
    out
}

/// The batches an edge could have sent `events` in: each lane's events in chunks of 1 to
/// `max_chunk`, the chunks of all lanes interleaved at random (a rewind or a lane's priority
/// reorders them), from `seed`.
pub fn batches(
    tenant: &str,
    site: &str,
    events: &[SiteEvent],
    max_chunk: usize,
    seed: u64,
) -> Vec<Batch> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut chunks: Vec<(Lane, Vec<WireEvent>)> = Vec::new();
    for lane in Lane::ALL {
        let of_lane: Vec<&SiteEvent> = events.iter().filter(|e| e.lane == lane).collect();
        let mut i = 0;
        while i < of_lane.len() {
            let n = rng.usize(1..=max_chunk.max(1)).min(of_lane.len() - i);
            chunks.push((
                lane,
                of_lane[i..i + n].iter().map(|e| e.event.clone()).collect(),
            ));
            i += n;
        }
    }
    rng.shuffle(&mut chunks);
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, (lane, events))| Batch {
            v: VERSION,
            tenant: tenant.to_string(),
            site: site.to_string(),
            batch: i as u64 + 1,
            lane,
            boot_id: "bench-boot".into(),
            sent_at: 0,
            skew_ms: None,
            events,
            dropped: vec![],
            head: None,
        })
        .collect()
}

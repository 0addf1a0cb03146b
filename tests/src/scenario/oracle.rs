//! The oracle: after the day, what the routers, the cloud and the box's database say must
//! agree. Each failed check is a breach with a sentence saying what went wrong.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::clock::minutes;
use super::issuer::Issuer;
use super::nas::{ADMIN_RESET, AuthAnswer, DisconnectSeen, Method};
use super::{Options, SITE, SessionEnd, TENANT, Traffic};
use sitebox_routeros::sim::DecidedBy;

/// Acct-Terminate-Cause NAS-Reboot (the box closes a router's sessions on Accounting-On).
const NAS_REBOOT: i64 = 11;

/// Clock skew allowed between the box's clock and the routers' (both fast clocks).
const SLACK: i64 = minutes(2);

/// What the oracle looks at.
#[derive(Debug)]
pub struct Facts<'a> {
    /// The run's options.
    pub options: &'a Options,
    /// Simulated start of the day.
    pub day0: i64,
    /// The routers' view.
    pub traffic: &'a Traffic,
    /// Disconnect-Requests per router.
    pub disconnects: &'a [Vec<DisconnectSeen>],
    /// The box's database.
    pub database: PathBuf,
    /// The cloud.
    pub issuer: &'a Issuer,
    /// To query the cloud.
    pub runtime: &'a tokio::runtime::Runtime,
    /// Simulated instant the power came back.
    pub power_back: i64,
    /// The power cut (simulated).
    pub power_cut: (i64, i64),
    /// Whether the backlog drained and every command was answered.
    pub settled: bool,
    /// The router outage (simulated).
    pub router_down: (i64, i64),
}

/// The oracle's findings.
#[derive(Debug, Default)]
pub struct Verdict {
    /// What went wrong.
    pub breaches: Vec<String>,
    /// The figures of the day.
    pub figures: serde_json::Map<String, serde_json::Value>,
}

impl Verdict {
    fn check(&mut self, ok: bool, breach: impl FnOnce() -> String) {
        if !ok {
            self.breaches.push(breach());
        }
    }

    fn figure(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.figures.insert(name.to_string(), value.into());
    }
}

/// Waits until the box has nothing unacknowledged, the cloud's cursor is at the box's last seq
/// and every command is answered; false after `timeout`.
pub fn wait_settled(
    runtime: &tokio::runtime::Runtime,
    issuer: &Issuer,
    database: &Path,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let edge = edge_i64s(
            database,
            "SELECT (SELECT count(*) FROM outbox WHERE acked_at IS NULL), (SELECT coalesce(max(seq), 0) FROM outbox)",
        );
        let cloud = runtime.block_on(async {
            let through = issuer
                .query(&format!("SELECT coalesce(max(through), 0)::bigint FROM site_cursors WHERE tenant_id = '{TENANT}' AND site_id = '{SITE}'"))
                .await
                .ok()?;
            let unanswered = issuer.unanswered("").await.ok()?;
            Some((through.first()?.get::<_, i64>(0), unanswered))
        });
        if let (Some(edge), Some((through, unanswered))) = (edge, cloud)
            && edge[0] == 0
            && through == edge[1]
            && unanswered == 0
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

fn open(database: &Path) -> Option<rusqlite::Connection> {
    let conn =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.busy_timeout(Duration::from_secs(5)).ok()?;
    Some(conn)
}

fn edge_i64s(database: &Path, sql: &str) -> Option<Vec<i64>> {
    let conn = open(database)?;
    conn.query_row(sql, [], |row| {
        let mut values = Vec::new();
        let mut i = 0;
        while let Ok(value) = row.get::<_, i64>(i) {
            values.push(value);
            i += 1;
        }
        Ok(values)
    })
    .ok()
}

fn rows<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    conn.prepare(sql)
        .and_then(|mut stmt| stmt.query_map([], map)?.collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Judges the day.
pub fn judge(facts: &Facts<'_>) -> Verdict {
    let mut v = Verdict::default();
    v.check(facts.settled, || {
        "the backlog did not drain or commands stayed unanswered after the day".into()
    });
    let conn = open(&facts.database).expect("open the box's database");
    let cloud = |sql: &str| -> Vec<tokio_postgres::Row> {
        facts
            .runtime
            .block_on(facts.issuer.query(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e:#}"))
    };
    payments(&mut v, facts, &conn, &cloud);
    accounting(&mut v, facts, &conn, &cloud);
    cloud_equals_edge(&mut v, &conn, &cloud);
    projections_equal_edge(&mut v, &conn, &cloud);
    expiry(&mut v, facts, &conn);
    admissions(&mut v, facts);
    deciders(&mut v, facts, &conn);
    failed_jobs(&mut v, &conn);
    router_health(&mut v, facts, &conn);
    storm(&mut v, facts);
    v
}

fn payments(
    v: &mut Verdict,
    facts: &Facts<'_>,
    conn: &rusqlite::Connection,
    cloud: &dyn Fn(&str) -> Vec<tokio_postgres::Row>,
) {
    let edge: HashMap<String, (i64, String, i64)> = rows(
        conn,
        "SELECT receipt, id, state, (SELECT count(*) FROM subscriptions s WHERE s.payment_id = p.id) FROM payments p",
        |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))),
    )
    .into_iter()
    .collect();
    let results: HashMap<String, (Option<String>, Option<String>)> = cloud(
        "SELECT command_id, state, result->>'outcome' FROM commands WHERE type = 'payment.confirmed'",
    )
    .iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2))))
    .collect();
    let applied_events: HashMap<String, i64> = cloud(
        "SELECT subject, count(*) FROM events WHERE type = 'PaymentApplied' GROUP BY subject",
    )
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let (mut same_id, mut new_id) = (0, 0);
    for payment in &facts.traffic.payments {
        let receipt = &payment.receipt;
        match edge.get(receipt) {
            Some((_, state, granted)) => {
                v.check(state == "applied", || {
                    format!("payment {receipt} is {state}")
                });
                v.check(*granted == 1, || {
                    format!("payment {receipt} granted {granted} subscriptions")
                });
            }
            None => v
                .breaches
                .push(format!("payment {receipt} never reached the box")),
        }
        let mut ids = payment.command_ids.clone();
        if ids.len() == 2 {
            if ids[0] == ids[1] {
                same_id += 1;
            } else {
                new_id += 1;
            }
        }
        ids.dedup();
        let outcomes: Vec<Option<String>> = ids
            .iter()
            .map(|id| match results.get(id) {
                Some((Some(state), outcome)) if state == "applied" => outcome.clone(),
                Some((state, _)) => {
                    v.breaches
                        .push(format!("command {id} is {state:?} in the cloud"));
                    None
                }
                None => {
                    v.breaches.push(format!("command {id} is not in the cloud"));
                    None
                }
            })
            .collect();
        let applied = outcomes
            .iter()
            .filter(|o| o.as_deref() == Some("applied"))
            .count();
        v.check(applied == 1, || {
            format!("payment {receipt}: {applied} commands report it applied ({outcomes:?})")
        });
        let events = applied_events
            .get(&format!("payment:{receipt}"))
            .copied()
            .unwrap_or(0);
        v.check(events == 1, || {
            format!("payment {receipt}: {events} PaymentApplied events in the cloud")
        });
    }
    v.check(edge.len() == facts.traffic.payments.len(), || {
        format!(
            "{} payments at the box for {} receipts sent",
            edge.len(),
            facts.traffic.payments.len()
        )
    });
    v.figure("payments", facts.traffic.payments.len());
    v.figure("payments_repeated_same_command", same_id);
    v.figure("payments_repeated_new_command", new_id);
}

fn accounting(
    v: &mut Verdict,
    facts: &Facts<'_>,
    conn: &rusqlite::Connection,
    cloud: &dyn Fn(&str) -> Vec<tokio_postgres::Row>,
) {
    let routers: HashMap<i64, usize> = rows(conn, "SELECT id, name FROM routers", |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })
    .into_iter()
    .filter_map(|(id, name)| Some((id, name.strip_prefix("gw")?.parse::<usize>().ok()? - 1)))
    .collect();
    type Row = (i64, String, String, i64, i64, i64, Option<i64>);
    let mut edge: HashMap<(usize, String), Vec<Row>> = HashMap::new();
    for (router, session, id, state, seconds, input, output, cause) in rows(
        conn,
        "SELECT router_id, acct_session_id, id, state, session_time_s, input_octets, output_octets, terminate_cause FROM sessions",
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<i64>>(7)?,
            ))
        },
    ) {
        let router = routers.get(&router).copied().unwrap_or(usize::MAX);
        edge.entry((router, session.clone()))
            .or_default()
            .push((id, session, state, seconds, input, output, cause));
    }
    let mut known = 0;
    let mut late_stops = Vec::new();
    for log in &facts.traffic.sessions {
        let key = (log.router, log.session.clone());
        let found = edge.get(&key).map(Vec::as_slice).unwrap_or_default();
        let acked = log.start_acked || matches!(log.end, SessionEnd::Stopped { .. });
        if found.is_empty() {
            v.check(!acked, || {
                format!(
                    "session {} of {} acknowledged but not stored",
                    log.session, log.user
                )
            });
            continue;
        }
        known += 1;
        v.check(found.len() == 1, || {
            format!("session {} stored {} times", log.session, found.len())
        });
        let (_, _, state, seconds, input, output, cause) = &found[0];
        v.check(state == "closed", || {
            format!("session {} of {} is still {state}", log.session, log.user)
        });
        if let SessionEnd::Stopped {
            cause: c,
            seconds: s,
            input: i,
            output: o,
        } = &log.end
        {
            let expected = (
                i64::from(*s),
                i64::from(*i),
                i64::from(*o),
                Some(i64::from(*c)),
            );
            let stored = (*seconds, *input, *output, *cause);
            // The box may have closed the session itself first (the router NAKed a
            // Disconnect-Request while its Stop was still being retried): then it keeps the
            // counters of the last update, never more than the router's.
            let closed_first = *cause == Some(i64::from(ADMIN_RESET)) || *cause == Some(NAS_REBOOT);
            if expected != stored
                && closed_first
                && stored.0 <= expected.0
                && stored.1 <= expected.1
                && stored.2 <= expected.2
            {
                late_stops.push(log.session.clone());
            } else {
                v.check(expected == stored, || {
                    format!("session {} of {}: the router stopped it with {expected:?}, the box has {stored:?}", log.session, log.user)
                });
            }
        }
    }
    v.check(known == edge.len(), || {
        format!(
            "the box has {} sessions, the routers ran {known} of them",
            edge.len()
        )
    });
    let mut cloud_counts: HashMap<(String, String), i64> = HashMap::new();
    for row in cloud(
        "SELECT payload->>'session_id', type, count(*) FROM events WHERE type IN ('SessionStarted', 'SessionStopped') GROUP BY 1, 2",
    ) {
        cloud_counts.insert((row.get(0), row.get(1)), row.get(2));
    }
    let mut wrong = Vec::new();
    for rows in edge.values() {
        for (id, ..) in rows {
            for kind in ["SessionStarted", "SessionStopped"] {
                let n = cloud_counts
                    .get(&(id.to_string(), kind.to_string()))
                    .copied()
                    .unwrap_or(0);
                if n != 1 {
                    wrong.push(format!("session {id}: {n} {kind}"));
                }
            }
        }
    }
    v.check(wrong.is_empty(), || {
        format!(
            "accounting events in the cloud not once each: {:?}",
            &wrong[..wrong.len().min(10)]
        )
    });
    let stored_acct =
        cloud("SELECT count(*) FROM events WHERE type = 'SessionUpdated'")[0].get::<_, i64>(0);
    let interims: u32 = facts.traffic.sessions.iter().map(|s| s.interims).sum();
    v.figure("sessions", facts.traffic.sessions.len());
    v.figure("stops_after_the_box_closed_the_session", late_stops.len());
    v.figure("sessions_stored", edge.len());
    v.figure("interim_updates_acked", interims);
    v.figure("session_updated_events_in_cloud", stored_acct);
    v.figure("accounting_acked", facts.traffic.acct_acked);
    v.figure("accounting_unanswered", facts.traffic.acct_lost);
}

fn cloud_equals_edge(
    v: &mut Verdict,
    conn: &rusqlite::Connection,
    cloud: &dyn Fn(&str) -> Vec<tokio_postgres::Row>,
) {
    let edge: Vec<(i64, String)> = rows(conn, "SELECT seq, id FROM outbox ORDER BY seq", |r| {
        Ok((r.get(0)?, r.get(1)?))
    });
    let last = edge.last().map_or(0, |e| e.0);
    let filter = format!("tenant_id = '{TENANT}' AND site_id = '{SITE}'");
    let counts = &cloud(&format!(
        "SELECT count(*), count(DISTINCT seq), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events WHERE {filter}"
    ))[0];
    let got: (i64, i64, i64, i64) = (counts.get(0), counts.get(1), counts.get(2), counts.get(3));
    v.check(got == (last, last, 1, last), || {
        format!("cloud events (count, distinct, min, max) {got:?}, the box's last seq {last}")
    });
    let cloud_ids: Vec<(i64, String)> = cloud(&format!(
        "SELECT seq, coalesce(event_id, '') FROM events WHERE {filter} ORDER BY seq"
    ))
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    v.check(edge.len() == usize::try_from(last).unwrap_or(0), || {
        format!("the box's outbox has {} rows for seq 1..{last}", edge.len())
    });
    v.check(edge == cloud_ids, || {
        "the cloud's events are not the box's event history".into()
    });
    let dropped = cloud(&format!(
        "SELECT count(*) FROM events WHERE {filter} AND type = '_dropped'"
    ))[0]
        .get::<_, i64>(0);
    v.check(dropped == 0, || {
        format!("{dropped} events dropped at the edge")
    });
    let duplicates = cloud(&format!(
        "SELECT coalesce(sum(duplicates), 0)::bigint FROM site_cursors WHERE {filter}"
    ))[0]
        .get::<_, i64>(0);
    // The backlog crosses the uplink once: a resend or a rewind may repeat a window of
    // batches, never the day.
    v.check(duplicates * 100 <= last, || {
        format!("the cloud received {duplicates} duplicate events for {last} events (bound: 1 %)")
    });
    let resends = cloud(&format!(
        "SELECT count(*), count(*) FILTER (WHERE result->>'overtaken' = 'true')
         FROM commands WHERE {filter} AND type = 'resend_from'"
    ));
    v.figure("resend_requests", resends[0].get::<_, i64>(0));
    v.figure("resend_requests_overtaken", resends[0].get::<_, i64>(1));
    let mut kinds = serde_json::Map::new();
    for (kind, n) in rows(
        conn,
        "SELECT type, count(*) FROM outbox GROUP BY type ORDER BY 2 DESC",
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
    ) {
        kinds.insert(kind, n.into());
    }
    v.figure("events", last);
    v.figure("events_by_type", kinds);
    v.figure("duplicates_dropped_by_cloud", duplicates);
}

/// The cloud's projections of the site's payments, sessions and subscriptions are the box's
/// own tables, row for row, in every field the events carry.
fn projections_equal_edge(
    v: &mut Verdict,
    conn: &rusqlite::Connection,
    cloud: &dyn Fn(&str) -> Vec<tokio_postgres::Row>,
) {
    let filter = format!("tenant_id = '{TENANT}' AND site_id = '{SITE}'");
    let text = |value: Option<String>| value.unwrap_or_default();
    // (receipt, id, provider, amount, currency, plan, username, state, subscription)
    type Payment = (
        String,
        i64,
        String,
        i64,
        String,
        String,
        String,
        String,
        Option<i64>,
    );
    let edge_payments: Vec<Payment> = rows(
        conn,
        "SELECT p.receipt, p.id, p.provider, p.amount, p.currency, coalesce(pl.name, ''),
                coalesce(s.username, ''), p.state, p.subscription_id
         FROM payments p LEFT JOIN plans pl ON pl.id = p.plan_id
              LEFT JOIN subscribers s ON s.id = p.subscriber_id ORDER BY p.receipt",
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        },
    );
    let cloud_payments: Vec<Payment> = cloud(&format!(
        "SELECT receipt, payment_id, provider, amount, currency, plan, username, state, subscription_id
         FROM payments WHERE {filter} ORDER BY receipt"
    ))
    .iter()
    .map(|r| {
        (
            r.get(0),
            r.get::<_, Option<i64>>(1).unwrap_or(0),
            text(r.get(2)),
            r.get::<_, Option<i64>>(3).unwrap_or(0),
            text(r.get(4)),
            text(r.get(5)),
            text(r.get(6)),
            r.get(7),
            r.get(8),
        )
    })
    .collect();
    compare(v, "payments", &edge_payments, &cloud_payments);

    // (id, router, Acct-Session-Id, user, MAC, IP, subscriber, state, seconds, in, out, cause)
    type Session = (
        i64,
        i64,
        String,
        String,
        String,
        String,
        Option<i64>,
        String,
        i64,
        i64,
        i64,
        Option<i64>,
    );
    let edge_sessions: Vec<Session> = rows(
        conn,
        "SELECT id, router_id, acct_session_id, username, coalesce(mac, ''), coalesce(framed_ip, ''),
                subscriber_id, state, session_time_s, input_octets, output_octets, terminate_cause
         FROM sessions ORDER BY id",
        |r| {
            Ok((
                r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?,
                r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?,
            ))
        },
    );
    let cloud_sessions: Vec<Session> = cloud(&format!(
        "SELECT session_id, router_id, acct_session_id, username, mac, framed_ip, subscriber_id,
                state, session_time_s, input_octets, output_octets, terminate_cause
         FROM sessions WHERE {filter} ORDER BY session_id"
    ))
    .iter()
    .map(|r| {
        (
            r.get(0),
            r.get::<_, Option<i64>>(1).unwrap_or(0),
            text(r.get(2)),
            text(r.get(3)),
            text(r.get(4)),
            text(r.get(5)),
            r.get(6),
            r.get(7),
            r.get::<_, Option<i64>>(8).unwrap_or(0),
            r.get::<_, Option<i64>>(9).unwrap_or(0),
            r.get::<_, Option<i64>>(10).unwrap_or(0),
            r.get(11),
        )
    })
    .collect();
    compare(v, "sessions", &edge_sessions, &cloud_sessions);

    // Started ones (a queued subscription has no event yet):
    // (id, subscriber, plan, source, state, starts, expires)
    type Subscription = (i64, i64, String, String, String, Option<i64>, Option<i64>);
    let edge_subscriptions: Vec<Subscription> = rows(
        conn,
        "SELECT s.id, s.subscriber_id, p.name, s.source, s.state, s.starts_at, s.expires_at
         FROM subscriptions s JOIN plans p ON p.id = s.plan_id
         WHERE s.starts_at IS NOT NULL ORDER BY s.id",
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        },
    );
    let cloud_subscriptions: Vec<Subscription> = cloud(&format!(
        "SELECT subscription_id, subscriber_id, plan, source, state, starts_site, expires_site
         FROM subscriptions WHERE {filter} ORDER BY subscription_id"
    ))
    .iter()
    .map(|r| {
        (
            r.get(0),
            r.get::<_, Option<i64>>(1).unwrap_or(0),
            text(r.get(2)),
            text(r.get(3)),
            r.get(4),
            r.get(5),
            r.get(6),
        )
    })
    .collect();
    compare(
        v,
        "subscriptions",
        &edge_subscriptions,
        &cloud_subscriptions,
    );
    let failures = cloud(&format!(
        "SELECT count(*) FROM projection_failures WHERE {filter}"
    ))[0]
        .get::<_, i64>(0);
    v.check(failures == 0, || {
        format!("{failures} events the cloud's projections could not apply")
    });
    v.figure("projected_payments", cloud_payments.len());
    v.figure("projected_sessions", cloud_sessions.len());
    v.figure("projected_subscriptions", cloud_subscriptions.len());
}

/// A breach naming the first rows that differ, when `edge` and `cloud` differ.
fn compare<T: PartialEq + std::fmt::Debug>(v: &mut Verdict, what: &str, edge: &[T], cloud: &[T]) {
    if edge == cloud {
        return;
    }
    let only_edge: Vec<&T> = edge.iter().filter(|r| !cloud.contains(r)).take(3).collect();
    let only_cloud: Vec<&T> = cloud.iter().filter(|r| !edge.contains(r)).take(3).collect();
    v.breaches.push(format!(
        "the cloud's {what} ({} rows) are not the box's ({} rows): box only {only_edge:?}, cloud only {only_cloud:?}",
        cloud.len(),
        edge.len()
    ));
}

fn expiry(v: &mut Verdict, facts: &Facts<'_>, conn: &rusqlite::Connection) {
    // Each user has one plan bought in the day (a payment or a voucher).
    let ends: HashMap<String, (String, Option<i64>)> = rows(
        conn,
        "SELECT s.username, sub.state, sub.expires_at FROM subscriptions sub JOIN subscribers s ON s.id = sub.subscriber_id",
        |r| Ok((r.get::<_, String>(0)?, (r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?))),
    )
    .into_iter()
    .collect();
    let day_end = facts.day0 + facts.options.day_ms();
    let mut due = 0;
    for (user, (state, expires)) in &ends {
        if let Some(at) = expires
            && *at < day_end - SLACK
        {
            due += 1;
            v.check(state == "expired", || {
                format!("{user}'s plan ended at {at} but is {state}")
            });
        }
    }
    let cut_bound = i64::try_from(facts.options.cut_bound.as_millis()).unwrap_or(i64::MAX);
    let mut lags = Vec::new();
    let (mut expected_cuts, mut late, mut uncut) = (0, 0, 0);
    for log in &facts.traffic.sessions {
        let expires = ends
            .get(&log.user)
            .and_then(|(state, at)| (state == "expired").then_some(*at).flatten());
        match (expires, log.cut_at) {
            (Some(at), cut)
                if log.started < at - SLACK && (cut.is_some() || log.ended > at + SLACK) =>
            {
                // Open at the expiry instant: cut off, or still open at the router after it.
                expected_cuts += 1;
                match cut {
                    Some(cut) => {
                        v.check(cut >= at - SLACK, || {
                            format!(
                                "{}'s session {} cut at {cut} before the plan's end {at}",
                                log.user, log.session
                            )
                        });
                        lags.push((cut - at) as f64 / 1000.0);
                        if cut > at + cut_bound {
                            late += 1;
                            v.breaches.push(format!(
                                "{}'s session {} cut {} s after the plan's end (bound {} s)",
                                log.user,
                                log.session,
                                (cut - at) / 1000,
                                cut_bound / 1000
                            ));
                        }
                    }
                    None if log.ended > at + cut_bound => v.breaches.push(format!(
                        "{}'s session {} ran {} s past the plan's end without a Disconnect-Request",
                        log.user,
                        log.session,
                        (log.ended - at) / 1000
                    )),
                    // Ended by the user (or the router) before the box came to it.
                    None => uncut += 1,
                }
            }
            (Some(at), Some(cut)) => {
                v.check(cut >= at - SLACK, || {
                    format!(
                        "{}'s session {} cut at {cut} before the plan's end {at}",
                        log.user, log.session
                    )
                });
                lags.push((cut - at) as f64 / 1000.0);
            }
            (None, Some(cut)) => v.breaches.push(format!(
                "{}'s session {} cut at {cut} with an active plan",
                log.user, log.session
            )),
            _ => {}
        }
    }
    let mut readmitted = 0;
    let mut checks = 0;
    for auth in &facts.traffic.auths {
        let Some(at) = ends
            .get(&auth.user)
            .and_then(|(state, at)| (state == "expired").then_some(*at).flatten())
        else {
            continue;
        };
        if auth.after_cut {
            checks += 1;
        }
        if matches!(auth.answer, AuthAnswer::Accept { .. }) && auth.at > at + SLACK {
            readmitted += 1;
            v.breaches.push(format!(
                "{} admitted at {} after the plan ended at {at}",
                auth.user, auth.at
            ));
        }
        if let AuthAnswer::Accept {
            session_timeout: Some(timeout),
            ..
        } = auth.answer
        {
            let left = (at - auth.at) / 1000;
            v.check(i64::from(timeout) <= left + SLACK / 1000, || {
                format!(
                    "{} got Session-Timeout {timeout} s with {left} s of plan left",
                    auth.user
                )
            });
        }
    }
    lags.sort_by(f64::total_cmp);
    let cuts: usize = facts.disconnects.iter().map(Vec::len).sum();
    let acked: usize = facts
        .disconnects
        .iter()
        .flatten()
        .filter(|d| d.acked)
        .count();
    v.figure("plans_ended", due);
    v.figure("sessions_open_at_plan_end", expected_cuts);
    v.figure("sessions_cut_later_than_bound", late);
    v.figure("sessions_ended_by_user_before_a_late_cut", uncut);
    v.figure("cut_bound_s", cut_bound / 1000);
    v.figure("disconnect_requests", cuts);
    v.figure("disconnect_acked", acked);
    v.figure("readmission_checks", checks);
    v.figure("readmitted", readmitted);
    v.figure("cut_lag_p50_s", percentile(&lags, 50.0));
    v.figure("cut_lag_p99_s", percentile(&lags, 99.0));
    v.figure("cut_lag_max_s", lags.last().copied().unwrap_or(0.0));
}

fn admissions(v: &mut Verdict, facts: &Facts<'_>) {
    let mut admitted: HashMap<&str, bool> = HashMap::new();
    let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
    let (mut pap, mut chap, mut accepts, mut rejects, mut unanswered) = (0, 0, 0, 0, 0);
    for auth in &facts.traffic.auths {
        match auth.method {
            Method::Pap => pap += 1,
            Method::Chap => chap += 1,
        }
        match &auth.answer {
            AuthAnswer::Accept { .. } => {
                accepts += 1;
                admitted.insert(&auth.user, true);
            }
            AuthAnswer::Reject(why) => {
                rejects += 1;
                *reasons.entry(why.clone()).or_default() += 1;
                admitted.entry(&auth.user).or_insert(false);
            }
            AuthAnswer::NoAnswer => unanswered += 1,
        }
    }
    for why in reasons.keys() {
        let expected =
            why.starts_with("No active plan") || why.contains("expired") || why.contains("used up");
        v.check(expected, || {
            format!(
                "Access-Reject for a reason the day never gives: {why:?} ({} times)",
                reasons[why]
            )
        });
    }
    // A customer whose payment reached the box in time must have got in after it did.
    let conn = open(&facts.database).expect("open the box's database");
    let received: HashMap<String, i64> =
        rows(&conn, "SELECT receipt, received_at FROM payments", |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .into_iter()
        .collect();
    let day_end = facts.day0 + facts.options.day_ms();
    let expiries: HashMap<String, i64> = rows(
        &conn,
        "SELECT s.username, sub.expires_at FROM subscriptions sub JOIN subscribers s ON s.id = sub.subscriber_id WHERE sub.expires_at IS NOT NULL",
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .into_iter()
    .collect();
    let mut delays = Vec::new();
    let (mut late_payments, mut unusable) = (0, 0);
    for payment in &facts.traffic.payments {
        let Some(at) = received.get(&payment.receipt).copied() else {
            continue;
        };
        delays.push((at - payment.at) as f64 / 60_000.0);
        if at > day_end - minutes(40) {
            late_payments += 1;
            continue;
        }
        // The time the customer could have used: from the box having the payment to the
        // plan's end, less the router's and the box's outages.
        let ends = expiries
            .get(&payment.user)
            .copied()
            .unwrap_or(day_end)
            .min(day_end);
        let mut usable = ends - at;
        for (from, to) in outages(facts, payment.router) {
            usable -= (to.min(ends) - from.max(at)).max(0);
        }
        // Customers who are refused try again at most every 10 minutes.
        if usable < minutes(12) {
            unusable += 1;
            continue;
        }
        let admitted_after = facts.traffic.auths.iter().any(|a| {
            a.user == payment.user
                && answered_at(facts, a) >= at - SLACK
                && matches!(a.answer, AuthAnswer::Accept { .. })
        });
        v.check(admitted_after, || {
            format!(
                "{} paid ({}), the box had it at minute {:.0}, and was never admitted",
                payment.user,
                payment.receipt,
                (at - facts.day0) as f64 / 60_000.0
            )
        });
    }
    delays.sort_by(f64::total_cmp);
    v.figure("payment_to_box_p50_min", percentile(&delays, 50.0));
    v.figure("payment_to_box_p99_min", percentile(&delays, 99.0));
    v.figure(
        "payment_to_box_max_min",
        delays.last().copied().unwrap_or(0.0),
    );
    v.figure(
        "payments_reaching_the_box_in_the_last_40_min",
        late_payments,
    );
    v.figure(
        "plans_that_ran_out_while_the_router_or_box_was_down",
        unusable,
    );
    v.figure(
        "subscribers_admitted",
        admitted.values().filter(|a| **a).count(),
    );
    v.figure("access_requests", facts.traffic.auths.len());
    v.figure("access_requests_pap", pap);
    v.figure("access_requests_chap", chap);
    v.figure("access_accepts", accepts);
    v.figure("access_rejects", rejects);
    v.figure("access_unanswered", unanswered);
    v.figure(
        "reject_reasons",
        serde_json::to_value(reasons).unwrap_or_default(),
    );
}

/// The simulated instant a login's answer came (its request was sent at `auth.at`).
fn answered_at(facts: &Facts<'_>, auth: &super::AuthLog) -> i64 {
    auth.at + (auth.latency.as_secs_f64() * 1000.0 * facts.options.speed) as i64
}

/// Who decided each login, and whether any login got in that the box's policy refuses. The
/// day's plans have no data cap, time limit or MAC binding and one device at a time is never
/// exceeded, so the policy is the plan: a login is let in only while the customer has a plan
/// running (from its activation to its end, as the box's database has them, within the
/// clocks' slack) at some instant between the request and the answer, whoever decided it: the box over RADIUS (the NAS model's requests and the
/// routers' logins that asked it) or the router alone on a local user.
fn deciders(v: &mut Verdict, facts: &Facts<'_>, conn: &rusqlite::Connection) {
    let mut plans: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for (user, starts, expires) in rows(
        conn,
        "SELECT s.username, sub.starts_at, sub.expires_at FROM subscriptions sub JOIN subscribers s ON s.id = sub.subscriber_id WHERE sub.starts_at IS NOT NULL",
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        },
    ) {
        plans
            .entry(user)
            .or_default()
            .push((starts, expires.unwrap_or(i64::MAX)));
    }
    let (mut direct, mut by_box, mut by_router, mut by_nobody) = (0, 0, 0, 0);
    let (mut box_accepts, mut router_accepts) = (0, 0);
    let mut refused_by_policy = Vec::new();
    for auth in &facts.traffic.auths {
        let accepted = matches!(auth.answer, AuthAnswer::Accept { .. });
        let path = match auth.decided_by {
            None => {
                direct += 1;
                "the box (RADIUS from the NAS)"
            }
            Some(DecidedBy::Radius) => {
                by_box += 1;
                box_accepts += usize::from(accepted);
                "the box (RADIUS from the router)"
            }
            Some(DecidedBy::LocalUser) => {
                by_router += 1;
                router_accepts += usize::from(accepted);
                "the router (a local user)"
            }
            Some(DecidedBy::RadiusSilent | DecidedBy::NoRecord | DecidedBy::Router) => {
                by_nobody += 1;
                "the router (no answer from the box)"
            }
        };
        if !accepted {
            continue;
        }
        // The box decided at some instant between the request and its answer.
        let answered = answered_at(facts, auth);
        let running = plans.get(&auth.user).is_some_and(|plans| {
            plans.iter().any(|(starts, ends)| {
                answered >= starts - SLACK && auth.at <= ends.saturating_add(SLACK)
            })
        });
        if !running {
            refused_by_policy.push(format!(
                "{} let in by {path} at minute {:.0} with no plan running ({:?})",
                auth.user,
                (auth.at - facts.day0) as f64 / 60_000.0,
                plans.get(&auth.user)
            ));
        }
    }
    v.check(refused_by_policy.is_empty(), || {
        format!(
            "{} logins let in that the box's policy refuses: {:?}",
            refused_by_policy.len(),
            &refused_by_policy[..refused_by_policy.len().min(10)]
        )
    });
    v.figure("logins_through_the_routers", by_box + by_router + by_nobody);
    v.figure("logins_decided_by_the_box_via_the_router", by_box);
    v.figure("logins_decided_by_the_router", by_router);
    v.figure("logins_undecided_at_the_router", by_nobody);
    v.figure("logins_accepted_by_the_box_via_the_router", box_accepts);
    v.figure("logins_accepted_by_the_router", router_accepts);
    v.figure("logins_decided_by_the_box_directly", direct);
    v.figure("logins_let_in_against_the_policy", refused_by_policy.len());
}

/// The router that was down for an hour: the health poll saw it go down and come back, and
/// both routers are up at the end.
fn router_health(v: &mut Verdict, facts: &Facts<'_>, conn: &rusqlite::Connection) {
    let changes: Vec<(i64, String, String)> = rows(
        conn,
        "SELECT occurred_at, json_extract(payload, '$.router'), json_extract(payload, '$.status') FROM outbox WHERE type = 'RouterStatusChanged' ORDER BY seq",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    );
    let (from, to) = facts.router_down;
    let down = changes
        .iter()
        .find(|(at, router, status)| router == "gw2" && status == "down" && *at >= from - SLACK);
    let up = down.and_then(|(down_at, ..)| {
        changes
            .iter()
            .find(|(at, router, status)| router == "gw2" && status == "up" && at > down_at)
    });
    v.check(down.is_some_and(|(at, ..)| *at <= to + SLACK), || {
        format!("the health poll never saw gw2 down during its outage: {changes:?}")
    });
    v.check(up.is_some(), || {
        format!("the health poll never saw gw2 come back: {changes:?}")
    });
    let statuses: Vec<(String, String)> = rows(
        conn,
        "SELECT name, status FROM routers ORDER BY name",
        |r| Ok((r.get(0)?, r.get(1)?)),
    );
    v.check(statuses.iter().all(|(_, status)| status == "up"), || {
        format!("routers at the end of the day: {statuses:?}")
    });
    if let (Some((down_at, ..)), Some((up_at, ..))) = (down, up) {
        v.figure("gw2_seen_down_after_s", (down_at - from) / 1000);
        v.figure("gw2_seen_up_after_s", (up_at - to) / 1000);
    }
    v.figure("router_status_changes", changes.len());
}

/// When `router` (or the box, for everyone) was down.
fn outages(facts: &Facts<'_>, router: usize) -> Vec<(i64, i64)> {
    let mut down = vec![facts.power_cut];
    if router == 1 {
        down.push(facts.router_down);
    }
    down
}

fn failed_jobs(v: &mut Verdict, conn: &rusqlite::Connection) {
    let failed: Vec<(String, String)> = rows(conn, "SELECT kind, error FROM failed_jobs", |r| {
        Ok((r.get(0)?, r.get(1)?))
    });
    v.check(failed.is_empty(), || {
        format!(
            "{} failed jobs left: {:?}",
            failed.len(),
            &failed[..failed.len().min(5)]
        )
    });
    let pending = rows(
        conn,
        "SELECT count(*) FROM jobs WHERE state = 'running'",
        |r| r.get::<_, i64>(0),
    )[0];
    v.figure("failed_jobs", failed.len());
    v.figure("jobs_running_at_end", pending);
    let completed: Vec<(String, i64)> = rows(
        conn,
        "SELECT kind, count(*) FROM jobs WHERE state = 'completed' GROUP BY kind",
        |r| Ok((r.get(0)?, r.get(1)?)),
    );
    v.figure(
        "jobs_completed",
        serde_json::to_value(completed.into_iter().collect::<BTreeMap<_, _>>()).unwrap_or_default(),
    );
}

fn storm(v: &mut Verdict, facts: &Facts<'_>) {
    let window = i64::try_from(facts.options.storm_window.as_millis()).unwrap_or(i64::MAX);
    let mut latencies: Vec<f64> = facts
        .traffic
        .auths
        .iter()
        .filter(|a| a.at >= facts.power_back && a.at < facts.power_back + window)
        .map(|a| a.latency.as_secs_f64() * 1000.0)
        .collect();
    let unanswered = facts
        .traffic
        .auths
        .iter()
        .filter(|a| {
            a.at >= facts.power_back
                && a.at < facts.power_back + window
                && a.answer == AuthAnswer::NoAnswer
        })
        .count();
    latencies.sort_by(f64::total_cmp);
    let p99 = percentile(&latencies, 99.0);
    let bound = facts.options.storm_p99_bound.as_secs_f64() * 1000.0;
    v.check(latencies.len() >= 50, || {
        format!(
            "only {} Access-Requests after the power cut: no storm",
            latencies.len()
        )
    });
    v.check(p99 <= bound, || {
        format!("p99 Access-Request latency in the storm {p99:.0} ms, bound {bound:.0} ms")
    });
    v.figure("storm_unanswered", unanswered);
    v.figure("storm_requests", latencies.len());
    v.figure("storm_p99_bound_ms", bound);
    v.figure("storm_p50_ms", percentile(&latencies, 50.0));
    v.figure("storm_p99_ms", p99);
    v.figure("storm_max_ms", latencies.last().copied().unwrap_or(0.0));
    let mut all: Vec<f64> = facts
        .traffic
        .auths
        .iter()
        .filter(|a| a.answer != AuthAnswer::NoAnswer)
        .map(|a| a.latency.as_secs_f64() * 1000.0)
        .collect();
    all.sort_by(f64::total_cmp);
    v.figure("auth_p50_ms", percentile(&all, 50.0));
    v.figure("auth_p99_ms", percentile(&all, 99.0));
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}

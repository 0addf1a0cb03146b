//! The page's WebSocket (`GET /api/v1/ws`, behind the session cookie): on connect, the whole
//! snapshot; then each committed event the page cares about, followed (debounced) by the
//! parts of the page it changed; and the status figures every `[web] status_every`. The page
//! never polls. A listener that lags behind the bus gets the whole snapshot again.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Web;
use super::auth;
use super::caller::Caller;
use super::response::{ApiError, ApiResult, Body};
use super::snapshot::{self, Part};
use crate::model::event::EventKind;

/// WebSockets open at once (each holds a bus subscription and a task).
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(32);

/// Events arriving this close together are answered with one push of the parts they changed.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// Answers the upgrade and starts the socket's task.
pub(super) fn upgrade(
    web: &Arc<Web>,
    mut request: Request<Incoming>,
    caller: Caller,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) -> ApiResult {
    let headers = request.headers();
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err(ApiError::bad_request(
            "a WebSocket upgrade is expected here",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err(ApiError::bad_request("WebSocket version 13 only"));
    }
    // A page from another origin cannot ride the cookie into the socket.
    if let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        let origin = origin.to_str().unwrap_or_default();
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if origin_host != host.to_str().unwrap_or_default() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross-origin WebSocket refused",
            ));
        }
    }
    let Ok(slot) = SLOTS.try_acquire() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live pages open; close one",
        ));
    };
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| ApiError::bad_request("Sec-WebSocket-Key is missing"))?;
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut request);
    let web = Arc::clone(web);
    tasks.spawn(async move {
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                if let Err(err) = run(&web, socket, &caller, shutdown).await {
                    tracing::debug!(error = %err, "web: WebSocket ended");
                }
            }
            Err(err) => tracing::debug!(error = %err, "web: WebSocket upgrade failed"),
        }
    });
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).map_err(ApiError::internal)?,
    );
    Ok(response)
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

async fn run(
    web: &Web,
    mut socket: Socket,
    caller: &Caller,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Subscribe before reading the snapshot: nothing committed in between is missed.
    let mut events = web.store.bus().subscribe();
    send(
        &mut socket,
        &json!({ "type": "snapshot", "data": snapshot::snapshot(web).await.map_err(err)? }),
    )
    .await?;
    let mut tick = tokio::time::interval(web.config.status_every.get());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    let token_hash = auth::token_hash(&caller.token);
    let mut dirty: BTreeSet<Part> = BTreeSet::new();
    let mut flush_at: Option<Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = socket.close(None).await;
                return Ok(());
            }
            received = events.recv() => match received {
                Ok(event) => {
                    let parts = parts_for(event.kind);
                    if !parts.is_empty() {
                        dirty.extend(parts.iter().copied());
                        flush_at.get_or_insert_with(|| Instant::now() + DEBOUNCE);
                    }
                    send(&mut socket, &json!({
                        "type": "event",
                        "event": {
                            "seq": event.seq, "type": event.kind, "subject": event.subject,
                            "occurred_at": event.occurred_at,
                        },
                    })).await?;
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "web: WebSocket listener lagged; sending everything again");
                    dirty.extend(Part::ALL);
                    flush_at.get_or_insert_with(Instant::now);
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            () = sleep_until(flush_at) => {
                flush_at = None;
                let wanted: Vec<Part> = std::mem::take(&mut dirty).into_iter().collect();
                let data = snapshot::parts(web, &wanted).await.map_err(err)?;
                send(&mut socket, &json!({ "type": "parts", "data": data })).await?;
            }
            _ = tick.tick() => {
                // A logout or an expired session ends the socket too.
                let (hash, now) = (token_hash.clone(), auth::now());
                let alive = web.store.read(move |conn| crate::store::web::session(conn, &hash, now)).await?;
                if alive.is_none() {
                    let _ = socket.close(None).await;
                    return Ok(());
                }
                let data = snapshot::parts(web, &[Part::Status, Part::Log]).await.map_err(err)?;
                send(&mut socket, &json!({ "type": "parts", "data": data })).await?;
            }
            message = socket.next() => match message {
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(Message::Text(text))) if text.as_str() == "resync" => {
                    dirty.extend(Part::ALL);
                    flush_at.get_or_insert_with(Instant::now);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
            },
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn send(socket: &mut Socket, value: &serde_json::Value) -> anyhow::Result<()> {
    socket.send(Message::Text(value.to_string().into())).await?;
    Ok(())
}

fn err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!(e.message)
}

/// The parts of the page an event changes.
fn parts_for(kind: EventKind) -> &'static [Part] {
    use EventKind as K;
    match kind {
        K::SessionStarted | K::SessionUpdated | K::SessionStopped => &[Part::Sessions],
        K::SubscriptionStarted | K::SubscriptionExpired | K::VoucherRedeemed => &[Part::Sessions],
        K::PaymentReceived | K::PaymentApplied | K::PaymentRejected => {
            &[Part::Payments, Part::Sessions]
        }
        K::JobFailed | K::JobRetried | K::JobDiscarded => &[Part::Failed, Part::Status],
        K::RouterStatusChanged | K::RouterAdded | K::RouterUpdated => &[Part::Routers],
        K::AuthRejected => &[Part::Status],
        _ => &[],
    }
}

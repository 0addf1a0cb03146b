//! The RADIUS client table: one entry per active router, keyed by its address, with its secret
//! opened from the store. Rebuilt whenever a router is added or changed.

use std::net::IpAddr;
use std::sync::Arc;

use sitebox_radius::{Client, Clients, Secret};
use tokio_util::sync::CancellationToken;

use crate::domain::{DomainError, routers};
use crate::model::event::EventKind;
use crate::secrets::Secrets;
use crate::store::{Store, routers as router_sql};

/// Every active router as a RADIUS client.
pub(crate) async fn load_clients(
    store: &Store,
    secrets: &Secrets,
) -> Result<Vec<(IpAddr, Client)>, DomainError> {
    let secrets = secrets.clone();
    store
        .read(move |conn| {
            let mut clients = Vec::new();
            for router in router_sql::list(conn)?.into_iter().filter(|r| r.is_active()) {
                let Ok(address) = router.nas_ip.parse::<IpAddr>() else {
                    tracing::warn!(router = %router.name, address = %router.nas_ip, "router address is not an IP; skipped");
                    continue;
                };
                let secret = routers::radius_secret(conn, &secrets, router.id)?;
                let mut client = Client::new(router.name.clone(), Secret::new(secret.into_bytes()))
                    .map_err(|e| DomainError::Invalid(format!("router {}: {e}", router.name)))?;
                if !router.require_message_authenticator {
                    client = client.allow_missing_message_authenticator();
                }
                clients.push((address, client));
            }
            Ok(clients)
        })
        .await
}

/// Keeps `clients` in step with the routers table until `shutdown`.
pub(crate) async fn watch_routers(
    store: Store,
    secrets: Secrets,
    clients: Arc<Clients>,
    shutdown: CancellationToken,
) {
    let mut events = store.bus().subscribe();
    loop {
        let changed = tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.recv() => match event {
                Ok(event) => matches!(event.kind, EventKind::RouterAdded | EventKind::RouterUpdated),
                // Missed events: reload to be sure.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        if changed {
            match load_clients(&store, &secrets).await {
                Ok(table) => {
                    tracing::info!(clients = table.len(), "RADIUS client table reloaded");
                    clients.replace(table);
                }
                Err(err) => {
                    tracing::error!(error = %err, "could not reload the RADIUS client table")
                }
            }
        }
    }
}

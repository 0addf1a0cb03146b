//! A site's liveness: its MQTT presence (the retained status and the last will).

use sitebox_sync::wire::{Presence, Status};
use tokio_postgres::Client;

use crate::db;
use crate::ingest::IngestError;
use crate::notify::{self, Hub, Topic};

/// The stored name of a presence.
pub const fn presence_name(presence: Presence) -> &'static str {
    match presence {
        Presence::Online => "online",
        Presence::Offline => "offline",
    }
}

/// Records a site's retained status (its presence at the broker). Returns the site's cursor
/// when it came online: the ingest sends it to the site as an ack on its own, so that the site
/// does not send again what the cloud committed while acks could not reach it.
pub async fn record_presence(
    client: &mut Client,
    hub: &Hub,
    tenant: &str,
    site: &str,
    status: &Status,
) -> Result<Option<u64>, IngestError> {
    let tx = client.transaction().await?;
    db::set_tenant(&tx, tenant).await?;
    let updated = tx
        .execute(
            "UPDATE site_liveness SET presence = $3, presence_at = now(), presence_site_at = $4,
                 boot_id = coalesce($5, boot_id), version = coalesce($6, version)
             WHERE tenant_id = $1 AND site_id = $2",
            &[
                &tenant,
                &site,
                &presence_name(status.state),
                &status.at,
                &status.boot_id,
                &status.version,
            ],
        )
        .await?;
    if updated == 0 {
        return Err(IngestError::Rejected(format!(
            "status of {tenant}/{site}, which is not in the registry"
        )));
    }
    let through = match status.state {
        Presence::Online => tx
            .query_opt(
                "SELECT through FROM site_cursors WHERE tenant_id = $1 AND site_id = $2",
                &[&tenant, &site],
            )
            .await?
            .map(|row| db::unseq(row.get(0))),
        Presence::Offline => None,
    };
    let change = hub.change(tenant, Some(site), vec![Topic::Liveness]);
    notify::notify_in(&tx, &change).await?;
    tx.commit().await?;
    hub.publish(change);
    Ok(through)
}

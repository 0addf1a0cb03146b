//! System resource and identity, and interfaces: what router health polling reads.

use crate::client::{Api, Error};

use super::Menu;

const RESOURCE: Menu = Menu::new("/system/resource");
const IDENTITY: Menu = Menu::new("/system/identity");
const INTERFACES: Menu = Menu::new("/interface");

/// `/system/resource`: version, load and memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemResource {
    pub version: String,
    pub uptime: Option<String>,
    pub cpu_load: Option<u64>,
    pub free_memory: Option<u64>,
    pub total_memory: Option<u64>,
    pub free_hdd_space: Option<u64>,
    pub board_name: Option<String>,
    pub architecture_name: Option<String>,
}

/// Reads `/system/resource`.
pub async fn system_resource<A: Api>(api: &A) -> Result<SystemResource, Error> {
    let rows = RESOURCE.print(api, &[]).await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::UnexpectedReply("/system/resource returned no row".to_owned()))?;
    Ok(SystemResource {
        version: row.string("version").unwrap_or_default(),
        uptime: row.string("uptime"),
        cpu_load: row.u64("cpu-load"),
        free_memory: row.u64("free-memory"),
        total_memory: row.u64("total-memory"),
        free_hdd_space: row.u64("free-hdd-space"),
        board_name: row.string("board-name"),
        architecture_name: row.string("architecture-name"),
    })
}

/// The router's identity (its name).
pub async fn identity<A: Api>(api: &A) -> Result<String, Error> {
    let rows = IDENTITY.print(api, &[]).await?;
    rows.first()
        .and_then(|row| row.string("name"))
        .ok_or_else(|| Error::UnexpectedReply("/system/identity returned no name".to_owned()))
}

/// Sets the router's identity.
pub async fn set_identity<A: Api>(api: &A, name: &str) -> Result<(), Error> {
    IDENTITY
        .set_single(api, &vec![("name", name.to_owned())])
        .await
}

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub id: String,
    pub name: String,
    pub kind: Option<String>,
    pub running: bool,
    pub disabled: bool,
    pub rx_byte: Option<u64>,
    pub tx_byte: Option<u64>,
}

/// Every interface.
pub async fn interfaces<A: Api>(api: &A) -> Result<Vec<Interface>, Error> {
    let rows = INTERFACES.print(api, &[]).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(Interface {
                id: row.id()?,
                name: row.string("name")?,
                kind: row.string("type"),
                running: row.bool("running").unwrap_or(false),
                disabled: row.bool("disabled").unwrap_or(false),
                rx_byte: row.u64("rx-byte"),
                tx_byte: row.u64("tx-byte"),
            })
        })
        .collect())
}

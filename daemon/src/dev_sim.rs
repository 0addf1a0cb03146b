//! `[simulator]`: a RouterOS simulator inside the daemon, for development. It serves the API
//! on a loopback port and is registered as a managed router (if no router of its name exists),
//! so `cargo run -p sitebox -- run` provisions, configures and polls a router at once.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context as _;
use sitebox_routeros::sim::{RouterOsVersion, SimConfig, SimHandle, Simulator};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::SharedClock;
use crate::config::SimulatorConfig;
use crate::domain::routers;
use crate::model::event::Actor;
use crate::model::router::{ApiAccess, NewRouter};
use crate::secrets::Secrets;
use crate::store::{Store, routers as router_sql};

/// The simulator as `config` describes it.
pub(crate) fn simulator(config: &SimulatorConfig) -> anyhow::Result<Simulator> {
    let version: RouterOsVersion = config
        .version
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    Ok(Simulator::new(SimConfig {
        version,
        users: vec![(config.user.clone(), config.password.clone())],
        identity: config.router.clone(),
        ..SimConfig::default()
    }))
}

/// Serves `sim` on `listener` until `shutdown`.
pub(crate) fn spawn(
    sim: &Simulator,
    listener: TcpListener,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> SimHandle {
    let (serving, stop) = (sim.clone(), shutdown.clone());
    tasks.spawn(async move { serving.serve(listener, stop).await });
    sim.handle()
}

/// Adds the simulator to the routers table, managed over the API at `port`, unless a router
/// of its name is there already. Returns whether it was added.
pub(crate) async fn register(
    store: &Store,
    secrets: &Secrets,
    clock: &SharedClock,
    config: &SimulatorConfig,
    port: u16,
) -> anyhow::Result<bool> {
    let name = config.router.clone();
    let known = store
        .read(move |conn| router_sql::by_name(conn, &name))
        .await
        .context("looking the simulator up in the routers")?;
    if known.is_some() {
        return Ok(false);
    }
    let router = NewRouter {
        name: config.router.clone(),
        nas_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        nas_identifier: Some(config.router.clone()),
        radius_secret: config.radius_secret.clone(),
        coa_port: 3799,
        api: Some(ApiAccess {
            host: config.listen.ip().to_string(),
            port,
            tls: false,
            fingerprint: None,
            user: config.user.clone(),
            password: config.password.clone(),
        }),
        codepage: "windows-1252".into(),
    };
    let (secrets, now) = (secrets.clone(), clock.now());
    store
        .write(move |tx| routers::add(tx, &secrets, &Actor::System, now, router))
        .await
        .with_context(|| format!("registering the simulator as router `{}`", config.router))?;
    Ok(true)
}

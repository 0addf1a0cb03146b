//! `siteboxd simulate-router`: the RouterOS simulator on a socket, to try the daemon (or any
//! RouterOS API client) against a router that behaves like one, without hardware.

use anyhow::Context as _;
use clap::Args;
use sitebox_routeros::sim::{RouterOsVersion, SimConfig, SimTls, Simulator, parse_api_user};
use tokio::net::TcpListener;

/// `simulate-router` arguments.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address for the plain API.
    #[arg(long, default_value = "127.0.0.1:8728")]
    listen: String,
    /// Address for API-SSL with a fresh self-signed certificate (its fingerprint is printed).
    #[arg(long)]
    tls_listen: Option<String>,
    /// RouterOS version to play: before 6.43 the MD5 challenge login, from 7.18 `!empty`.
    #[arg(long, default_value = "7.18")]
    ros_version: RouterOsVersion,
    /// API user as NAME:PASSWORD (repeatable).
    #[arg(long = "api-user", default_value = "admin:admin")]
    users: Vec<String>,
    /// `/system/identity` name.
    #[arg(long, default_value = "MikroTik")]
    identity: String,
}

/// Serves until SIGINT/SIGTERM.
pub(super) fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let users = args
        .users
        .iter()
        .map(|u| {
            parse_api_user(u).with_context(|| format!("--api-user {u:?} is not NAME:PASSWORD"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sim = Simulator::new(SimConfig {
        version: args.ros_version,
        users,
        identity: args.identity.clone(),
        ..SimConfig::default()
    });
    super::runtime()?.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let listener = TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let tls = match &args.tls_listen {
            Some(address) => {
                let tls = SimTls::generate().context("making the self-signed certificate")?;
                let tls_listener = TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding {address}"))?;
                println!(
                    "API-SSL on {address}, certificate SHA-256 {}",
                    tls.fingerprint()
                );
                Some((tls_listener, tls))
            }
            None => None,
        };
        println!(
            "RouterOS {} simulator `{}` on {}",
            args.ros_version, args.identity, args.listen
        );
        sim.serve_until(listener, tls, async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await;
        Ok(())
    })
}

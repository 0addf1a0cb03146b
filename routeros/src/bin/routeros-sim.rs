//! `routeros-sim`: the RouterOS simulator on a socket, for trying clients by hand.
//!
//! `routeros-sim --listen 127.0.0.1:8728 --version 6.42 --user admin:secret [--tls-listen 127.0.0.1:8729]
//! [--identity gw1] [--address 127.0.0.2] [--clock-speed 60]`

use anyhow::Context;
use clap::Parser;
use std::net::Ipv4Addr;

use sitebox_routeros::sim::{
    RouterOsVersion, SimClock, SimConfig, SimTls, Simulator, parse_api_user,
};
use tokio::net::TcpListener;

/// A simulated MikroTik router speaking the RouterOS API.
#[derive(Debug, Parser)]
#[command(disable_version_flag = true)]
struct Args {
    /// Address for the plain API.
    #[arg(long, default_value = "127.0.0.1:8728")]
    listen: String,
    /// Address for API-SSL with a fresh self-signed certificate (its fingerprint is logged).
    #[arg(long)]
    tls_listen: Option<String>,
    /// RouterOS version to play: before 6.43 the MD5 challenge login, from 7.18 `!empty`.
    #[arg(long, default_value = "7.18")]
    version: RouterOsVersion,
    /// API user as NAME:PASSWORD (repeatable).
    #[arg(long = "user", default_value = "admin:admin")]
    users: Vec<String>,
    /// `/system/identity` name (NAS-Identifier towards RADIUS).
    #[arg(long, default_value = "MikroTik")]
    identity: String,
    /// The router's address towards RADIUS: the source of its requests, NAS-IP-Address, and
    /// where `/radius incoming` listens.
    #[arg(long, default_value = "127.0.0.1")]
    address: Ipv4Addr,
    /// Run the router's clock this many times faster than real time from now (sessions,
    /// limits, interims, netwatch, scheduler).
    #[arg(long, default_value_t = 1.0)]
    clock_speed: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let users = args
        .users
        .iter()
        .map(|u| parse_api_user(u).with_context(|| format!("--user {u:?} is not NAME:PASSWORD")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let clock = if args.clock_speed == 1.0 {
        SimClock::system()
    } else {
        SimClock::scaled(SimClock::system().now_ms(), args.clock_speed)
    };
    let sim = Simulator::new(SimConfig {
        version: args.version,
        users,
        identity: args.identity,
        address: args.address,
        clock,
        ..SimConfig::default()
    });
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %args.listen, version = %args.version, "RouterOS simulator serving");
    let tls = match &args.tls_listen {
        Some(address) => {
            let tls = SimTls::generate().context("making the self-signed certificate")?;
            let tls_listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("binding {address}"))?;
            tracing::info!(listen = %address, fingerprint = %tls.fingerprint(), "API-SSL serving");
            Some((tls_listener, tls))
        }
        None => None,
    };
    sim.serve_until(listener, tls, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn arguments_are_consistent() {
        super::Args::command().debug_assert();
    }
}

//! `sitebox-cloud run`: checks the database, then starts the change listener, the publisher,
//! the ingest workers and the sweeps, and stops them all on SIGTERM/SIGINT.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Cli;
use crate::api::{self, ApiState};
use crate::ingest::{self, IngestSettings, IngestStats};
use crate::notify::{self, Hub};
use crate::publisher::{Publisher, PublisherSettings};
use crate::sweep::{self, SweepSettings};
use crate::{db, http};

/// `run`'s options.
#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Ingest workers in this process (each joins the shared subscription with its own MQTT
    /// client and database connection).
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Shared-subscription group.
    #[arg(long, default_value = "sitebox-cloud")]
    group: String,
    /// MQTT client id prefix (unique per process; default: from the host and process id).
    #[arg(long)]
    client_id: Option<String>,
    /// Seconds a site's cursor may stand still behind stored seqs before a resend_from; also
    /// how long a delivered command waits for its result before it is sent again.
    #[arg(long, default_value_t = 60)]
    gap_timeout_secs: u64,
    /// How often each tenant is swept, ms.
    #[arg(long, default_value_t = 5000)]
    sweep_every_ms: u64,
    /// Where the HTTP server (the API) listens.
    #[arg(long, default_value = "127.0.0.1:8480")]
    listen: std::net::SocketAddr,
    /// Database connections for the API, at most.
    #[arg(long, default_value_t = 16)]
    pool_size: usize,
}

/// Runs the service until a signal.
pub(super) async fn run(cli: &Cli, args: &RunArgs) -> anyhow::Result<()> {
    {
        let client = db::connect(&cli.database)
            .await
            .context("connecting to PostgreSQL")?;
        db::migrate::check_service(&client)
            .await
            .context("the database is not safe to serve from")?;
    }
    // Bound before anything starts: a port in use is a start-up error.
    let bound = http::bind(args.listen).await?;
    let listening = bound.local_addr()?;
    let pool = db::pool(&cli.database, args.pool_size)?;
    let prefix = args
        .client_id
        .clone()
        .unwrap_or_else(|| format!("sitebox-cloud-{}", std::process::id()));
    let credentials = cli.credentials()?;
    let gap_timeout = Duration::from_secs(args.gap_timeout_secs.max(1));
    let hub = Hub::new();
    let tasks = TaskTracker::new();
    let shutdown = CancellationToken::new();

    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    tasks.spawn(notify::listen(
        cli.database.clone(),
        hub.clone(),
        Some(ready_tx),
        shutdown.clone(),
    ));
    let _ = tokio::time::timeout(Duration::from_secs(10), ready).await;

    let publisher = Publisher::spawn(
        PublisherSettings {
            host: cli.mqtt_host.clone(),
            port: cli.mqtt_port,
            credentials: credentials.clone(),
            client_id: format!("{prefix}-pub"),
            database_url: cli.database.clone(),
        },
        &tasks,
        shutdown.clone(),
    );
    let stats = Arc::new(IngestStats::default());
    let ingest_task = tasks.spawn(ingest::run(
        IngestSettings {
            database_url: cli.database.clone(),
            host: cli.mqtt_host.clone(),
            port: cli.mqtt_port,
            credentials,
            workers: args.workers,
            group: args.group.clone(),
            client_prefix: prefix,
            keep_alive: Duration::from_secs(30),
        },
        hub.clone(),
        stats.clone(),
        shutdown.clone(),
    ));
    let router = http::Router::new()
        .route(hyper::Method::GET, "/healthz", |_, _| async {
            http::json(hyper::StatusCode::OK, &serde_json::json!({ "ok": true }))
        })
        .merge(api::routes(ApiState {
            pool,
            hub: hub.clone(),
            publisher: Some(publisher.clone()),
        }));
    tasks.spawn(http::serve(bound, router, tasks.clone(), shutdown.clone()));
    tracing::info!(%listening, "api listening");
    tasks.spawn(sweep::run(
        SweepSettings {
            database_url: cli.database.clone(),
            every: Duration::from_millis(args.sweep_every_ms.max(100)),
            gap_timeout,
            queued_resend_after: Duration::from_secs(10),
        },
        hub.clone(),
        publisher,
        shutdown.clone(),
    ));
    tasks.close();
    tracing::info!("sitebox-cloud running");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        finished = ingest_task => {
            // The ingest only stops on its own when its database is gone for good.
            shutdown.cancel();
            finished.context("ingest")?.context("ingest")?;
        }
    }
    shutdown.cancel();
    if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("sitebox-cloud: tasks still running after 10 s; exiting");
    }
    tracing::info!(
        batches = stats.batches.load(Ordering::Relaxed),
        inserted = stats.inserted.load(Ordering::Relaxed),
        duplicates = stats.duplicates.load(Ordering::Relaxed),
        rejected = stats.rejected.load(Ordering::Relaxed),
        "sitebox-cloud stopped"
    );
    Ok(())
}

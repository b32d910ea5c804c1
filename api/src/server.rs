//! Running the service: initial model load, the reload task, the listener,
//! and graceful shutdown on SIGTERM or SIGINT.
//!
//! In a container the service is PID 1, which gets no default signal
//! handlers from the kernel, so it installs its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Limits;
use crate::metrics::Metrics;
use crate::model_slot::{ModelSlot, Unavailable, UnavailableReason};
use crate::reload;
use crate::routes::{routes, AppState};

/// Everything `run` needs, as the command line sets it.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub model_path: PathBuf,
    pub limits: Limits,
    /// Maximum time to receive a request's headers before the connection
    /// is closed.
    pub header_read_timeout: Duration,
    /// Interval between two checks of the model file.
    pub poll_interval: Duration,
    /// Maximum time to finish requests in flight after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// Serves until SIGTERM or SIGINT, then stops accepting connections and
/// returns once requests in flight finished or the grace period ended.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let slot = Arc::new(ModelSlot::unavailable(Unavailable {
        reason: UnavailableReason::Missing,
        message: "the model has not been loaded yet".to_owned(),
    }));
    let fingerprint = reload::fingerprint(&config.model_path);
    reload::load_into(&slot, &config.model_path, &metrics);
    let watcher = tokio::spawn(reload::watch(
        Arc::clone(&slot),
        config.model_path.clone(),
        config.poll_interval,
        Arc::clone(&metrics),
        fingerprint,
    ));

    let listener = TcpListener::bind(config.addr).await.with_context(|| {
        format!(
            "failed to listen on {}; free the port or set another address with --addr or API_ADDR",
            config.addr
        )
    })?;
    let local = listener
        .local_addr()
        .context("failed to read the bound address")?;
    tracing::info!(addr = %local, model = %config.model_path.display(), "listening");

    let state = AppState {
        slot,
        metrics,
        limits: config.limits,
    };
    let (stop_sender, stop) = watch::channel(false);
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutdown requested; finishing requests in flight");
        let _ = stop_sender.send(true);
    });

    let server = serve(
        listener,
        state,
        config.header_read_timeout,
        stopped(stop.clone()),
    );
    let deadline = async {
        stopped(stop).await;
        tokio::time::sleep(config.shutdown_grace).await;
    };
    tokio::select! {
        () = server => tracing::info!("shutdown complete"),
        () = deadline => tracing::warn!(
            grace_seconds = config.shutdown_grace.as_secs_f64(),
            "grace period ended with requests still open; exiting"
        ),
    }
    watcher.abort();
    Ok(())
}

/// Serves [`routes`] on `listener` until `shutdown` completes, then waits for
/// open connections to finish their requests.
///
/// `warp::serve` does not expose hyper's `header_read_timeout`, so this loop
/// does what warp's graceful server does, with that timeout set. Without it
/// a client that never finishes its headers keeps a connection open forever.
///
/// Only HTTP/1 is served. hyper-util's automatic protocol detection reads
/// the first bytes with no deadline, so a client that sends nothing would
/// keep its connection open. HTTP/2 has no header timeout either, and
/// hyper's HTTP/2 server sends a body in reply to HEAD, which curl rejects.
async fn serve(
    listener: TcpListener,
    state: AppState,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let filter = routes(state);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Running out of file descriptors, say: wait for some to
                    // close instead of spinning.
                    tracing::warn!(%error, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(warp::service(filter.clone()));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A client that closes early or exceeds the header timeout.
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Completes when `stop` becomes true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens at exit.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Waits for SIGTERM or SIGINT and returns its name.
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};

    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    match (terminate, interrupt) {
        (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        },
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "failed to install signal handlers; stop the service with SIGKILL");
            std::future::pending().await
        }
    }
}

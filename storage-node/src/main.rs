//! The `storage-node` binary: `storage-node --config node.yaml`.

// Outside bytes never panic the process: library code has no unwrap/expect/panic and no
// unchecked arithmetic or indexing (tests may). An exception says why where it stands.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "A storage node of the s3store cluster")]
struct Args {
    /// The node's YAML configuration.
    #[arg(long)]
    config: PathBuf,
    /// Only check the configuration (and its secret, unless `--skip-secrets`), then exit.
    #[arg(long)]
    check: bool,
    /// With `--check`: do not read the secret.
    #[arg(long)]
    skip_secrets: bool,
    /// Log lines as `text` or `json` (one object per line, for log collectors).
    #[arg(long, default_value = "text")]
    log_format: node_api::log_output::LogFormat,
}

/// mimalloc: glibc's malloc and free were a tenth of all CPU time under small requests
/// (PERFORMANCE.md). Built without transparent huge pages (the workspace's `no_thp`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = config::load_storage_node(&args.config)?;
    // RUST_LOG wins; else the configuration's `log`; else info.
    node_api::log_output::init(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| config.log.as_deref().unwrap_or("info").into()),
        args.log_format,
    );
    if args.check {
        if !args.skip_secrets {
            config
                .cluster_secret
                .resolve("cluster_secret")
                .map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?;
        }
        println!("{}: ok", args.config.display());
        return Ok(());
    }
    let node = storage_node::start(&config).await?;
    tracing::info!(node = %config.node_id, "storage node listening on {}", node.address);
    if args.log_format == node_api::log_output::LogFormat::Text {
        println!(
            "storage node {} listening on {}",
            config.node_id, node.address
        );
    }
    // SIGTERM (what Kubernetes sends) or Ctrl-C: return, so the store closes cleanly (RocksDB
    // flushed and closed, no WAL to replay at the next start). Every write it acknowledged is
    // already durable (fsync before the ack), so the requests in flight need no drain: their
    // gateways retry or take the other replicas.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        _ = node.task => {}
    }
    tracing::info!(node = %config.node_id, "stopping");
    Ok(())
}

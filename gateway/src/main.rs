//! The `gateway` binary: `gateway --config gateway.yaml`, or `gateway dev` for a local
//! cluster on loopback (three `storage-node` child processes and this gateway).

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

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "The S3 gateway of the s3store cluster")]
struct Args {
    /// The gateway's YAML configuration (when no subcommand is given).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Log lines as `text` or `json` (one object per line, for log collectors).
    #[arg(long, global = true, default_value = "text")]
    log_format: node_api::log_output::LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a gateway and three storage nodes in this process, on loopback.
    Dev {
        /// Where the cluster keeps its configuration and data.
        #[arg(long, default_value = "dev-data")]
        data_dir: PathBuf,
        /// Port of the S3 endpoint.
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// Port of the first storage node (the others follow).
        #[arg(long, default_value_t = 9101)]
        node_port: u16,
        /// Serve HTTPS (and TLS between gateway and nodes) with generated certificates.
        #[arg(long)]
        tls: bool,
        /// Domain for virtual-hosted-style requests (`<bucket>.<domain>`), written into a new
        /// data folder's configuration.
        #[arg(long, default_value = "localhost")]
        domain: String,
        /// Port of the website endpoint of website buckets (`<bucket>.s3-website.<domain>`),
        /// written into a new data folder's configuration.
        #[arg(long, default_value_t = 9080)]
        website_port: u16,
        /// Port of the admin API and web console, written into a new data folder's
        /// configuration.
        #[arg(long, default_value_t = 9090)]
        admin_port: u16,
        /// Only write the configuration (gateway.yaml, node1..3.yaml, cluster.yaml) into the
        /// data folder and exit: for running the processes separately.
        #[arg(long)]
        prepare_only: bool,
    },
    /// Show the cluster: epoch, replication, and per node its zone, health and hints held.
    Status {
        /// The gateway configuration (cluster map and cluster secret).
        #[arg(long)]
        config: PathBuf,
    },
    /// Apply a membership change: offer the cluster map in `map` (a higher epoch than the
    /// cluster's) to every node; running gateways pick it up and move the data in the
    /// background (`status` shows the move). Same as writing the map into a gateway's
    /// `cluster_map` file.
    ApplyMap {
        /// The gateway configuration (cluster map and cluster secret).
        #[arg(long)]
        config: PathBuf,
        /// The new cluster map.
        #[arg(long)]
        map: PathBuf,
    },
    /// Administer the cluster through a gateway's admin API (`--endpoint`, the token in
    /// S3STORE_ADMIN_TOKEN), or in this process with a gateway configuration (`--config`,
    /// which needs the cluster secret): status and map, access keys and grants, buckets and
    /// quotas, jobs, repair, rotation status.
    Admin {
        /// A gateway configuration: run the command in this process, reaching the nodes with
        /// its cluster secret (wins over --endpoint).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// The admin listener of a running gateway, `http(s)://host:port`.
        #[arg(long, global = true, env = "S3STORE_ADMIN_ENDPOINT")]
        endpoint: Option<String>,
        /// PEM certificates to trust for an https endpoint (else the system's).
        #[arg(long, global = true, env = "S3STORE_ADMIN_CA_FILE")]
        ca_file: Option<PathBuf>,
        #[command(subcommand)]
        command: gateway::admin::Command,
    },
    /// Check a configuration without starting anything: the file, the cluster map it names,
    /// and (unless `--skip-secrets`) every secret and master key it refers to.
    CheckConfig {
        /// The gateway configuration.
        #[arg(long)]
        config: PathBuf,
        /// Do not read secrets (for configurations rendered where they are not present).
        #[arg(long)]
        skip_secrets: bool,
    },
    /// Make the active key of a PKCS#11 KMS key on its token (an AES-256 key, sensitive and
    /// never extractable), unless the token has it already.
    KmsKeygen {
        /// The gateway configuration (its `encryption.kms` section).
        #[arg(long)]
        config: PathBuf,
        /// The KMS key's id.
        #[arg(long)]
        key: String,
    },
    /// Rewrap every stored data key under the active master key (`encryption.active_key`), and
    /// every SSE-KMS data key under its KMS key's active material, without rewriting object
    /// data. Safe to run twice; run again after an incomplete run.
    Rotate {
        /// The gateway configuration: cluster map, cluster secret and master keys.
        #[arg(long)]
        config: PathBuf,
    },
}

/// mimalloc: glibc's malloc and free were a tenth of all CPU time under small requests
/// (PERFORMANCE.md). Built without transparent huge pages (the workspace's `no_thp`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The admin operations run in this process on the cluster `config` names (its map state
/// brought up to date from the nodes first).
async fn local_admin(config: &std::path::Path) -> anyhow::Result<gateway::admin::Admin> {
    let config = config::load_gateway(config)?;
    let assembled = gateway::assemble(&config).await?;
    gateway::membership::sync_once(&assembled.gateway.cluster, None).await;
    Ok(gateway::admin::Admin::of(&assembled.gateway))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // RUST_LOG wins; else the served configuration's `log`; else info.
    let configured = match (&args.command, &args.config) {
        (None, Some(path)) => config::load_gateway(path).ok().and_then(|c| c.log),
        _ => None,
    };
    let requested = std::env::var("RUST_LOG").ok();
    node_api::log_output::init(
        gateway::logging::filter(requested.as_deref(), configured.as_deref()),
        args.log_format,
    );
    match (args.command, args.config) {
        (
            Some(Command::Dev {
                data_dir,
                port,
                node_port,
                tls,
                domain,
                website_port,
                admin_port,
                prepare_only,
            }),
            _,
        ) => {
            let opts = gateway::dev::DevOptions {
                data_dir,
                s3_port: port,
                first_node_port: node_port,
                tls,
                domain,
                website_port,
                admin_port,
            };
            if prepare_only {
                let path = gateway::dev::prepare(&opts)?;
                println!("{}", path.display());
                return Ok(());
            }
            gateway::dev::run(opts).await
        }
        (Some(Command::Status { config }), _) => {
            let admin = local_admin(&config).await?;
            print!(
                "{}",
                gateway::admin::cli::run_local(&admin, &gateway::admin::Command::Status).await?
            );
            Ok(())
        }
        (Some(Command::ApplyMap { config, map }), _) => {
            let config = config::load_gateway(&config)?;
            let next = config::load_cluster_map(&map)?;
            let assembled = gateway::assemble(&config).await?;
            let applied = gateway::membership::apply_map(&assembled.gateway.cluster, next)
                .await
                .map_err(|why| anyhow::anyhow!("{}: {why}", map.display()))?;
            println!(
                "cluster map epoch {} offered: {} of {} nodes took it; data moves in the background",
                applied.epoch, applied.took, applied.offered
            );
            Ok(())
        }
        (
            Some(Command::CheckConfig {
                config,
                skip_secrets,
            }),
            _,
        ) => {
            let loaded = config::load_gateway(&config)?;
            if let Some(map) = &loaded.cluster_map {
                config::load_cluster_map(map)?;
            }
            if !skip_secrets {
                loaded
                    .check_secrets()
                    .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
            }
            println!("{}: ok", config.display());
            Ok(())
        }
        (
            Some(Command::Admin {
                config,
                endpoint,
                ca_file,
                command,
            }),
            _,
        ) => {
            let out = match (config, endpoint) {
                (Some(config), _) => {
                    let admin = local_admin(&config).await?;
                    gateway::admin::cli::run_local(&admin, &command).await?
                }
                (None, Some(endpoint)) => {
                    let token = std::env::var("S3STORE_ADMIN_TOKEN").map_err(|_| {
                        anyhow::anyhow!("set S3STORE_ADMIN_TOKEN to the gateway's admin token")
                    })?;
                    let remote = gateway::admin::cli::Remote {
                        endpoint,
                        token,
                        ca_file,
                    };
                    gateway::admin::cli::run_remote(&remote, &command).await?
                }
                (None, None) => anyhow::bail!(
                    "gateway admin needs --endpoint <admin API> (and S3STORE_ADMIN_TOKEN), or --config <gateway.yaml>"
                ),
            };
            print!("{out}");
            Ok(())
        }
        (Some(Command::KmsKeygen { config, key }), _) => {
            let config = config::load_gateway(&config)?;
            let kms = config
                .encryption
                .load_kms_keys()
                .map_err(anyhow::Error::msg)?;
            let Some(k) = kms.iter().find(|k| k.id == key) else {
                anyhow::bail!("encryption.kms.keys has no key `{key}`");
            };
            let (Some(label), Some(token)) = (
                k.labels.first(),
                config
                    .encryption
                    .kms
                    .as_ref()
                    .and_then(|k| k.pkcs11.as_ref()),
            ) else {
                anyhow::bail!("KMS key `{key}` is not kept on a PKCS#11 token");
            };
            let token = gateway::open_token(token)?;
            if token.generate(label)? {
                println!("kms-keygen: made `{label}` on the token for KMS key `{key}`");
            } else {
                println!("kms-keygen: the token has `{label}` already");
            }
            Ok(())
        }
        (Some(Command::Rotate { config }), _) => {
            let admin = local_admin(&config).await?;
            let done = admin.rotate().await;
            print!("{}", gateway::admin::cli::render_rotation(&done));
            if !done.complete {
                anyhow::bail!("rotation incomplete: keep the old master keys and run it again");
            }
            Ok(())
        }
        (None, Some(path)) => {
            let config = config::load_gateway(&path)?;
            let running = gateway::start(&config).await?;
            let scheme = if running.tls { "https" } else { "http" };
            tracing::info!("gateway listening on {scheme}://{}", running.address);
            if args.log_format == node_api::log_output::LogFormat::Text {
                println!("gateway listening on {scheme}://{}", running.address);
            }
            let mut task = running.task;
            tokio::select! {
                r = gateway::server::termination_requested() => r?,
                _ = &mut task => return Ok(()),
            }
            // Stop accepting and let the requests in flight finish (shutdown_grace_seconds).
            let _ = running.shutdown.send(());
            let _ = task.await;
            Ok(())
        }
        (None, None) => anyhow::bail!("give --config <file>, or use `gateway dev`"),
    }
}

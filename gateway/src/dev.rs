//! `gateway dev`: a whole cluster on one machine for a first try.
//!
//! On first start it writes a three-node configuration (cluster map, node and gateway configs,
//! generated credentials and cluster secret) into the data folder; every later start reuses it,
//! so data and credentials survive restarts. Then it starts the three storage nodes (the
//! `storage-node` binary next to this one, as child processes that end with it) and the
//! gateway on loopback and prints how to reach them.
//!
//! With `--tls` (on first start) it also makes a private CA and a certificate for `localhost` and
//! 127.0.0.1 (`tls/` in the data folder), and serves the S3 endpoint over HTTPS and the internal
//! links over TLS: what SSE-C needs, without an operator's certificates.

use std::path::{Path, PathBuf};

use rand::distributions::{Alphanumeric, DistString};

/// Ports and folder of the dev cluster.
pub struct DevOptions {
    pub data_dir: PathBuf,
    pub s3_port: u16,
    pub first_node_port: u16,
    /// HTTPS and internal TLS with generated certificates.
    pub tls: bool,
    /// Domain for virtual-hosted-style requests (`bucket.<domain>`).
    pub domain: String,
    /// Port of the website endpoint (`<bucket>.s3-website.<domain>`).
    pub website_port: u16,
    /// Port of the admin API and web console.
    pub admin_port: u16,
}

/// Writes a private CA and a certificate it signed for `localhost` and 127.0.0.1 into `dir`
/// (`ca.pem`, `cert.pem`, `key.pem`), unless they exist.
fn write_dev_certificates(dir: &Path) -> anyhow::Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    if dir.join("ca.pem").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "s3store dev CA");
    let ca = ca.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?
        .signed_by(&key, &ca, &ca_key)?;
    std::fs::write(dir.join("cert.pem"), leaf.pem())?;
    std::fs::write(dir.join("key.pem"), key.serialize_pem())?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    Ok(())
}

/// The S3 endpoint's TLS with `--tls` (the internal links are always mutual TLS, with
/// identities derived from the cluster secret).
const GATEWAY_TLS: &str = "tls: { certificate: tls/cert.pem, private_key: tls/key.pem }\n";

/// Removes the lines of `path` that start with `setting:` (folders made when the internal
/// links had TLS settings of their own).
fn drop_setting(path: &Path, setting: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    if text.lines().any(|l| l.starts_with(setting)) {
        let kept: String = text
            .lines()
            .filter(|l| !l.starts_with(setting))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(path, kept)?;
    }
    Ok(())
}

fn random(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

fn write_if_missing(path: &Path, text: &str) -> anyhow::Result<()> {
    if !path.exists() {
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// A one-machine cluster gets its space back within minutes of an overwrite or a delete
/// (production defaults wait longer: see `config::GcConfig`).
const DEV_RECLAIM: &str = "anti_entropy_seconds: 15\ngarbage_collection: { grace_seconds: 3600, every_seconds: 30, reclaim_grace_seconds: 120 }\n";

/// Master key `k1`, and a KMS key `dev-key` for SSE-KMS beside the built-in `aws/s3`.
const ENCRYPTION_SECTION: &str = "encryption:\n  active_key: k1\n  master_keys:\n    - { id: k1, key: { file: master-key-1 } }\n  kms:\n    keys:\n      - { id: dev-key, active: dev-key-1, materials: [ { id: dev-key-1, key: { file: kms-dev-key-1 } } ] }\n";

/// Writes the dev configuration unless it exists; returns the gateway config path.
pub fn prepare(opts: &DevOptions) -> anyhow::Result<PathBuf> {
    let dir = &opts.data_dir;
    if opts.tls {
        if dir.join("gateway.yaml").exists() && !dir.join("tls/ca.pem").exists() {
            anyhow::bail!(
                "{} was made without --tls: give a new --data-dir",
                dir.display()
            );
        }
        write_dev_certificates(&dir.join("tls"))?;
    }
    let gateway_tls = if opts.tls { GATEWAY_TLS } else { "" };
    std::fs::create_dir_all(dir)?;
    write_if_missing(&dir.join("cluster-secret"), &random(48))?;
    write_if_missing(&dir.join("secret-key"), &random(40))?;
    write_if_missing(&dir.join("admin-token"), &random(40))?;
    for key_file in ["master-key-1", "kms-dev-key-1"] {
        write_if_missing(
            &dir.join(key_file),
            &base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                crate::sealing::random::<32>(),
            ),
        )?;
    }
    let mut nodes = String::new();
    for (i, offset) in (1..=3u16).zip(0u16..) {
        let port = opts.first_node_port.saturating_add(offset);
        nodes.push_str(&format!(
            "  - {{ id: node{i}, address: \"127.0.0.1:{port}\", zone: zone-{i}, weight: 1 }}\n"
        ));
        let node_yaml = dir.join(format!("node{i}.yaml"));
        write_if_missing(
            &node_yaml,
            &format!(
                "node_id: node{i}\nlisten: \"127.0.0.1:{port}\"\ndata_dir: node{i}\ncluster_secret: {{ file: cluster-secret }}\n"
            ),
        )?;
        drop_setting(&node_yaml, "tls:")?;
    }
    write_if_missing(
        &dir.join("cluster.yaml"),
        &format!("epoch: 1\nreplication: {{ n: 3, w: 2, r: 2 }}\nnodes:\n{nodes}"),
    )?;
    let access_key = format!("DEV{}", random(17).to_uppercase());
    write_if_missing(
        &dir.join("gateway.yaml"),
        &format!(
            "{gateway_tls}listen: \"127.0.0.1:{}\"\nregion: us-east-1\nvirtual_host_domain: {}\nwebsite: {{ listen: \"127.0.0.1:{}\", domain: s3-website.{} }}\ncluster_map: cluster.yaml\ncluster_secret: {{ file: cluster-secret }}\ncredentials:\n  - access_key: {access_key}\n    secret_key: {{ file: secret-key }}\n{DEV_RECLAIM}",
            opts.s3_port, opts.domain, opts.website_port, opts.domain
        ),
    )?;
    // Encryption is always on, and the admin API is served; folders made before either existed
    // get the section added.
    let gateway_yaml = dir.join("gateway.yaml");
    drop_setting(&gateway_yaml, "internal_tls:")?;
    let admin_section = format!(
        "admin: {{ listen: \"127.0.0.1:{}\", token: {{ file: admin-token }} }}\n",
        opts.admin_port
    );
    for (setting, section) in [
        ("\nencryption:", ENCRYPTION_SECTION),
        ("\nadmin:", admin_section.as_str()),
    ] {
        if !std::fs::read_to_string(&gateway_yaml)?.contains(setting) {
            use std::io::Write as _;
            std::fs::OpenOptions::new()
                .append(true)
                .open(&gateway_yaml)?
                .write_all(section.as_bytes())?;
        }
    }
    Ok(gateway_yaml)
}

/// The `storage-node` binary: `S3STORE_STORAGE_NODE_BIN`, else the one beside this binary.
fn storage_node_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("S3STORE_STORAGE_NODE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let beside = std::env::current_exe()?.with_file_name("storage-node");
    anyhow::ensure!(
        beside.exists(),
        "no storage-node binary at {} (build it: cargo build --bin storage-node)",
        beside.display()
    );
    Ok(beside)
}

/// Starts `storage-node --config <config>` as a child that the kernel stops when this process
/// ends, however it ends (so a killed `gateway dev` leaves no nodes holding its ports).
fn spawn_node(binary: &Path, config: &Path) -> anyhow::Result<tokio::process::Child> {
    use std::os::unix::process::CommandExt as _;
    let parent = std::process::id() as libc::pid_t;
    let mut command = std::process::Command::new(binary);
    command.arg("--config").arg(config);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1); // the parent already ended before the request took effect
            }
            Ok(())
        });
    }
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    command
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", binary.display()))
}

/// Waits until `node` accepts connections on `listen`, or fails when it exits first.
async fn wait_listening(node: &mut tokio::process::Child, listen: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = node.try_wait()? {
            anyhow::bail!("storage node for {listen} exited: {status}");
        }
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "storage node for {listen} not listening after a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Runs the dev cluster until Ctrl-C or SIGTERM.
pub async fn run(opts: DevOptions) -> anyhow::Result<()> {
    let gateway_path = prepare(&opts)?;
    let binary = storage_node_binary()?;
    let mut nodes = Vec::new();
    for i in 1..=3 {
        let path = opts.data_dir.join(format!("node{i}.yaml"));
        let cfg = config::load_storage_node(&path)?;
        let mut node = spawn_node(&binary, &path)?;
        wait_listening(&mut node, &cfg.listen).await?;
        nodes.push(node);
    }
    let cfg = config::load_gateway(&gateway_path)?;
    let gateway = crate::start(&cfg).await?;
    let credential = cfg
        .credentials
        .first()
        .ok_or_else(|| anyhow::anyhow!("the dev configuration names no credentials"))?;
    let secret = credential
        .secret_key
        .resolve("secret_key")
        .map_err(anyhow::Error::msg)?;
    let scheme = if gateway.tls { "https" } else { "http" };
    let endpoint = format!("{scheme}://{}", gateway.address);
    println!(
        "s3store dev cluster: 3 storage nodes + gateway, data in {}",
        opts.data_dir.display()
    );
    println!();
    println!("  endpoint:          {endpoint}");
    println!("  region:            {}", cfg.region);
    if let Some(domain) = &cfg.virtual_host_domain {
        println!(
            "  virtual-hosted:    {scheme}://<bucket>.{domain}:{}",
            gateway.address.port()
        );
    }
    if let (Some(web), Some(w)) = (gateway.website_address, &cfg.website) {
        println!(
            "  website endpoint:  http://<bucket>.{}:{}",
            w.domain,
            web.port()
        );
    }
    println!("  access key id:     {}", credential.access_key);
    println!("  secret access key: {secret}");
    let admin = match (gateway.admin_address, &cfg.admin) {
        (Some(address), Some(a)) => Some((
            format!("{scheme}://{address}"),
            a.load_token().map_err(anyhow::Error::msg)?,
        )),
        _ => None,
    };
    if let Some((url, token)) = &admin {
        println!("  admin API:         {url}/admin/v1");
        println!("  web console:       {url}/console/");
        println!("  admin token:       {token}");
    }
    let ca = opts.data_dir.join("tls/ca.pem");
    if gateway.tls {
        println!("  CA certificate:    {}", ca.display());
    }
    println!();
    println!("Try it:");
    println!(
        "  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={secret} AWS_DEFAULT_REGION={}",
        credential.access_key, cfg.region
    );
    if gateway.tls {
        println!("  export AWS_CA_BUNDLE={}", ca.display());
    }
    println!("  aws --endpoint-url {endpoint} s3 mb s3://demo");
    println!("  aws --endpoint-url {endpoint} s3 cp README.md s3://demo/");
    println!("  aws --endpoint-url {endpoint} s3 ls s3://demo/");
    if let Some((url, token)) = &admin {
        println!("  S3STORE_ADMIN_TOKEN={token} gateway admin --endpoint {url} status");
    }
    println!();
    println!("Ctrl-C stops it; the data stays for the next start.");
    crate::server::termination_requested().await?;
    // The requests in flight finish first (they need the nodes).
    let _ = gateway.shutdown.send(());
    let _ = gateway.task.await;
    for mut node in nodes {
        let _ = node.kill().await;
    }
    Ok(())
}

//! A real cluster for integration tests: storage-node and gateway processes on loopback ports,
//! configured in a temporary folder that is deleted when the harness is dropped (even when the
//! test fails), and an `aws-sdk-s3` client pointed at it.

#![allow(dead_code)]

pub mod netns;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use node_api::client::{NodeClient, Timeouts};
use node_api::identity::ClusterIdentity;

pub const ACCESS_KEY: &str = "TESTACCESSKEY";
pub const SECRET_KEY: &str = "test-secret-key-for-integration";
/// Base64 of 32 bytes: the master key the test gateways start with.
pub const MASTER_KEY_1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub fn bin(name: &str) -> PathBuf {
    let gateway = PathBuf::from(env!("CARGO_BIN_EXE_gateway"));
    let path = gateway.with_file_name(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// A port free now and never handed out before by this process: tests of one binary run in
/// parallel, and a port one cluster released (a node restarting) must not go to another.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn wait_for_port(port: u16) {
    wait_for_address("127.0.0.1", port)
}

fn wait_for_address(host: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect((host, port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port} after 60 s");
}

/// Shape of a test cluster.
#[derive(Clone, Copy)]
pub struct Shape {
    pub nodes: usize,
    pub n: usize,
    pub w: usize,
    pub r: usize,
    pub chunk_size: usize,
    /// HTTPS on the S3 endpoint and TLS between gateway and nodes, with certificates of a
    /// test CA (`ca.pem` in the cluster folder).
    pub tls: bool,
    /// Extra YAML appended to every node's configuration.
    pub node_yaml: &'static str,
    /// Extra YAML appended to the gateway's configuration.
    pub gateway_yaml: &'static str,
    /// How many of the nodes the first cluster map names (0: all); the others run, ready to
    /// join by a membership change.
    pub map_nodes: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            nodes: 3,
            n: 3,
            w: 2,
            r: 2,
            chunk_size: 1 << 20,
            tls: false,
            node_yaml: "",
            gateway_yaml: "",
            map_nodes: 0,
        }
    }
}

pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub node_ports: Vec<u16>,
    pub s3_port: u16,
    nodes: Vec<Option<Child>>,
    gateway: Option<Child>,
    /// Further gateways of the same cluster ([`TestCluster::start_another_gateway`]).
    more_gateways: Vec<Child>,
    /// Where each node listens, and the network namespace it runs in (if any).
    pub node_hosts: Vec<String>,
    node_netns: Vec<Option<String>>,
    /// The test CA's certificate (PEM) when the cluster runs TLS.
    pub ca_pem: Option<String>,
    replication: (usize, usize, usize),
    /// This cluster's own secret: a node of another test's cluster that ends up on a port
    /// this one expects refuses its requests instead of mixing data.
    cluster_secret: String,
}

/// A test CA and a certificate it signed for `localhost` and 127.0.0.1: (CA PEM, leaf PEM, key
/// PEM).
pub fn test_certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "s3store test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

impl TestCluster {
    pub fn start() -> TestCluster {
        Self::start_with(Shape::default())
    }

    pub fn start_with(shape: Shape) -> TestCluster {
        let hosts = (0..shape.nodes)
            .map(|_| (None, "127.0.0.1".to_string()))
            .collect();
        Self::start_on(shape, hosts)
    }

    /// A cluster whose node `i` runs in network namespace `hosts[i].0` (when given) and listens
    /// on `hosts[i].1`.
    pub fn start_on(shape: Shape, hosts: Vec<(Option<String>, String)>) -> TestCluster {
        assert_eq!(hosts.len(), shape.nodes);
        let dir = tempfile::Builder::new()
            .prefix("s3store-it-")
            .tempdir()
            .unwrap();
        let node_ports: Vec<u16> = (0..shape.nodes).map(|_| free_port()).collect();
        let s3_port = free_port();
        let cluster_secret = format!("test-cluster-secret-{:016x}", rand::random::<u64>());
        let mut ca_pem = None;
        let mut gateway_tls = String::new();
        if shape.tls {
            let (ca, leaf, key) = test_certificates();
            std::fs::write(dir.path().join("ca.pem"), &ca).unwrap();
            std::fs::write(dir.path().join("cert.pem"), leaf).unwrap();
            std::fs::write(dir.path().join("key.pem"), key).unwrap();
            gateway_tls = "tls: { certificate: cert.pem, private_key: key.pem }\n".to_string();
            ca_pem = Some(ca);
        }
        for (i, port) in node_ports.iter().enumerate() {
            std::fs::write(
                dir.path().join(format!("node{i}.yaml")),
                format!(
                    "node_id: node{i}\nlisten: \"{}:{port}\"\ndata_dir: data{i}\ncluster_secret: {{ value: {cluster_secret} }}\n{}",
                    hosts[i].1,
                    shape.node_yaml
                ),
            )
            .unwrap();
        }
        std::fs::write(
            dir.path().join("gateway.yaml"),
            format!(
                "{gateway_tls}listen: \"127.0.0.1:{s3_port}\"\ncluster_map: cluster.yaml\ncluster_secret: {{ value: {cluster_secret} }}\nchunk_size: {}\ncredentials:\n  - access_key: {ACCESS_KEY}\n    secret_key: {{ value: {SECRET_KEY} }}\nencryption:\n  active_key: k1\n  master_keys:\n    - {{ id: k1, key: {{ file: master-key-1 }} }}\n{}",
                shape.chunk_size, shape.gateway_yaml
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("master-key-1"), MASTER_KEY_1).unwrap();
        let mut cluster = TestCluster {
            dir,
            node_ports,
            s3_port,
            cluster_secret,
            nodes: Vec::new(),
            gateway: None,
            more_gateways: Vec::new(),
            ca_pem,
            node_hosts: hosts.iter().map(|h| h.1.clone()).collect(),
            node_netns: hosts.into_iter().map(|h| h.0).collect(),
            replication: (shape.n, shape.w, shape.r),
        };
        let named = if shape.map_nodes == 0 {
            shape.nodes
        } else {
            shape.map_nodes
        };
        cluster.write_map(1, &(0..named).collect::<Vec<_>>());
        for i in 0..shape.nodes {
            let child = cluster.spawn_node(i);
            cluster.nodes.push(Some(child));
        }
        for (host, &p) in cluster.node_hosts.iter().zip(&cluster.node_ports) {
            wait_for_address(host, p);
        }
        cluster.gateway = Some(cluster.spawn_gateway());
        wait_for_port(s3_port);
        cluster
    }

    /// Writes the gateway's cluster map file: epoch `epoch`, naming `nodes` (each in its own
    /// zone). The running gateway picks a higher epoch up as a membership change.
    pub fn write_map(&self, epoch: u64, nodes: &[usize]) {
        let (n, w, r) = self.replication;
        let mut map =
            format!("epoch: {epoch}\nreplication: {{ n: {n}, w: {w}, r: {r} }}\nnodes:\n");
        for &i in nodes {
            map.push_str(&format!(
                "  - {{ id: node{i}, address: \"{}:{}\", zone: zone-{i} }}\n",
                self.node_hosts[i], self.node_ports[i]
            ));
        }
        // Written whole, then renamed, so the watcher never reads half a map.
        let tmp = self.dir.path().join("cluster.yaml.tmp");
        std::fs::write(&tmp, map).unwrap();
        std::fs::rename(tmp, self.dir.path().join("cluster.yaml")).unwrap();
    }

    fn spawn_gateway(&self) -> Child {
        self.spawn_gateway_with("gateway", &[])
    }

    fn spawn_gateway_with(&self, name: &str, env: &[(&str, &str)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .unwrap();
        Command::new(bin("gateway"))
            .arg("--config")
            .arg(self.dir.path().join(format!("{name}.yaml")))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// SIGKILLs the gateway and starts a new one on the same port: it holds no state, so
    /// everything (multipart uploads included) must carry on.
    pub fn restart_gateway(&mut self) {
        if let Some(mut child) = self.gateway.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        self.gateway = Some(self.spawn_gateway());
        wait_for_port(self.s3_port);
    }

    fn spawn_node(&self, i: usize) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("node{i}.log")))
            .unwrap();
        // `ip netns exec` enters the namespace and then executes the node itself.
        let mut command = match &self.node_netns[i] {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin("storage-node"));
                c
            }
            None => Command::new(bin("storage-node")),
        };
        command
            .arg("--config")
            .arg(self.dir.path().join(format!("node{i}.yaml")))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    pub fn endpoint(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.s3_port)
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        client_trusting(
            &self.endpoint(),
            ACCESS_KEY,
            SECRET_KEY,
            self.ca_pem.as_deref(),
        )
    }

    /// Starts one more gateway of this cluster (the same configuration on another port);
    /// returns its endpoint.
    pub fn start_another_gateway(&mut self) -> String {
        self.start_another_gateway_with(&[])
    }

    /// [`TestCluster::start_another_gateway`] with more environment variables.
    pub fn start_another_gateway_with(&mut self, env: &[(&str, &str)]) -> String {
        let name = format!("gateway-{}", self.more_gateways.len() + 2);
        let port = free_port();
        let yaml = std::fs::read_to_string(self.dir.path().join("gateway.yaml")).unwrap();
        let yaml = yaml.replace(
            &format!("listen: \"127.0.0.1:{}\"", self.s3_port),
            &format!("listen: \"127.0.0.1:{port}\""),
        );
        std::fs::write(self.dir.path().join(format!("{name}.yaml")), yaml).unwrap();
        let child = self.spawn_gateway_with(&name, env);
        self.more_gateways.push(child);
        wait_for_port(port);
        self.endpoint()
            .replace(&self.s3_port.to_string(), &port.to_string())
    }

    /// A client of the gateway at `endpoint` with the test credentials.
    pub fn client_of(&self, endpoint: &str) -> aws_sdk_s3::Client {
        client_trusting(endpoint, ACCESS_KEY, SECRET_KEY, self.ca_pem.as_deref())
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) storage node `i`: a node that hangs, connections
    /// open, answering nothing.
    pub fn pause_node(&self, i: usize, paused: bool) {
        let pid = self.nodes[i].as_ref().expect("node is running").id();
        let signal = if paused { "-STOP" } else { "-CONT" };
        let ok = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal} {pid}");
    }

    /// SIGKILLs storage node `i`.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts storage node `i` again on its old port and data.
    pub fn restart_node(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} is running");
        let child = self.spawn_node(i);
        self.nodes[i] = Some(child);
        wait_for_address(&self.node_hosts[i], self.node_ports[i]);
    }

    /// The cluster secret its nodes and gateway share.
    pub fn cluster_secret(&self) -> &str {
        &self.cluster_secret
    }

    /// A direct client of storage node `i`'s internal API.
    pub fn node_client(&self, i: usize) -> NodeClient {
        NodeClient::new(
            &self.node_address(i),
            Some(&format!("node{i}")),
            &self.identity(),
            Timeouts::default(),
        )
    }

    /// The address storage node `i` listens on.
    pub fn node_address(&self, i: usize) -> String {
        format!("{}:{}", self.node_hosts[i], self.node_ports[i])
    }

    /// A cluster identity of this cluster's secret (what a gateway or tool shows nodes).
    pub fn identity(&self) -> ClusterIdentity {
        ClusterIdentity::for_client(&self.cluster_secret).unwrap()
    }

    /// Rewrites the gateway's `encryption` section: `keys` are (id, base64 key) pairs, each
    /// written to its own file. Takes effect at the next [`TestCluster::restart_gateway`].
    pub fn set_master_keys(&self, active: &str, keys: &[(&str, &str)]) {
        let mut section = format!("encryption:\n  active_key: {active}\n  master_keys:\n");
        for (id, key) in keys {
            std::fs::write(self.dir.path().join(format!("master-key-{id}")), key).unwrap();
            section.push_str(&format!(
                "    - {{ id: {id}, key: {{ file: master-key-{id} }} }}\n"
            ));
        }
        self.set_encryption(&section);
    }

    /// Replaces the gateway's `encryption` section (the configuration's last) with `section`.
    /// Takes effect at the next [`TestCluster::restart_gateway`].
    pub fn set_encryption(&self, section: &str) {
        let path = self.dir.path().join("gateway.yaml");
        let yaml = std::fs::read_to_string(&path).unwrap();
        let (head, _) = yaml.split_once("encryption:\n").unwrap();
        std::fs::write(path, format!("{head}{section}")).unwrap();
    }

    /// Appends `yaml` to the gateway's configuration and restarts the gateway with it.
    pub fn reconfigure_gateway(&mut self, yaml: &str) {
        let path = self.dir.path().join("gateway.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(yaml);
        std::fs::write(&path, text).unwrap();
        self.restart_gateway();
    }

    /// Runs `gateway <args> --config gateway.yaml` to completion: (success, stdout + stderr).
    /// Runs `gateway admin <args>`, which must succeed; returns what it printed.
    pub fn admin(&self, args: &[&str]) -> String {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        let (ok, out) = self.gateway_command(&all);
        assert!(ok, "gateway admin {args:?}: {out}");
        out
    }

    pub fn gateway_command(&self, args: &[&str]) -> (bool, String) {
        self.gateway_command_with("gateway.yaml", args)
    }

    /// Runs `gateway <args> --config <config>` (a file in the cluster folder) to completion.
    pub fn gateway_command_with(&self, config: &str, args: &[&str]) -> (bool, String) {
        let out = Command::new(bin("gateway"))
            .args(args)
            .arg("--config")
            .arg(self.dir.path().join(config))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    pub fn gateway_pid(&self) -> u32 {
        self.gateway.as_ref().unwrap().id()
    }

    /// The gateway's process, for a test that stops it itself (`restart_gateway` starts a
    /// new one).
    pub fn take_gateway(&mut self) -> Child {
        self.gateway.take().unwrap()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for child in self.nodes.iter().flatten() {
            // A paused node must be able to die.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        let children = self
            .nodes
            .iter_mut()
            .flatten()
            .chain(self.gateway.as_mut())
            .chain(self.more_gateways.iter_mut());
        for child in children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(self.dir.path().join("gateway.log")) {
                let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
                eprintln!("--- gateway.log (last lines, newest first) ---\n{tail}");
            }
        }
    }
}

pub fn client_for(endpoint: &str, access: &str, secret: &str) -> aws_sdk_s3::Client {
    client_trusting(endpoint, access, secret, None)
}

/// A client that, for HTTPS, trusts the CA `ca_pem` (and no other).
pub fn client_trusting(
    endpoint: &str,
    access: &str,
    secret: &str,
    ca_pem: Option<&str>,
) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(access, secret, None, None, "test"))
        .force_path_style(true)
        .http_client(http_client(ca_pem))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A client that never retries (a retried conditional write could be refused by its own first
/// attempt) and gives up on a call after `timeout`: what a history recorder needs.
pub fn client_without_retries(endpoint: &str, timeout: Duration) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .force_path_style(true)
        .http_client(http_client(None))
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .operation_timeout(timeout)
                .build(),
        )
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The SDK's hyper client with rustls on `ring` (the SDK's default would build aws-lc from C).
fn http_client(ca_pem: Option<&str>) -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{
        rustls_provider::CryptoMode, Provider, TlsContext, TrustStore,
    };
    let builder =
        aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring));
    let Some(ca) = ca_pem else {
        return builder.build_https();
    };
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(ca.as_bytes().to_vec());
    builder
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https()
}

/// The keys of the first listing page of `bucket`, in order.
pub async fn keys_in(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    s3.list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect()
}

/// The S3 error code of a failed SDK call.
/// The status and body of an unsigned request (a one-byte body for methods that send one).
#[allow(dead_code)]
pub async fn anonymous(method: http::Method, url: &str) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let body = match method {
        http::Method::PUT | http::Method::POST => bytes::Bytes::from_static(b"x"),
        _ => bytes::Bytes::new(),
    };
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .body(http_body_util::Full::new(body))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

pub fn code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{err:?}"))
}

/// The HTTP status of a failed SDK call.
pub fn status<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> u16 {
    err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

/// Deterministic pseudo-random bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// The value of a gateway metric (the first sample whose line starts with `name`), from
/// `/_s3store/metrics`.
pub async fn metric(cluster: &TestCluster, name: &str) -> f64 {
    metric_at(&format!("{}/_s3store", cluster.endpoint()), name).await
}

/// A metric of storage node `i` (its `/metrics`).
pub async fn node_metric(cluster: &TestCluster, i: usize, name: &str) -> f64 {
    let (_, body) = cluster
        .node_client(i)
        .fetch(http::Method::GET, "/metrics")
        .await
        .unwrap();
    sample(&body, name)
}

async fn metric_at(base: &str, name: &str) -> f64 {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: http::Uri = format!("{base}/metrics").parse().unwrap();
    let body = client
        .get(uri)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    sample(&body, name)
}

/// The first sample of `name` in a Prometheus text page (0 when there is none).
fn sample(body: &[u8], name: &str) -> f64 {
    let text = String::from_utf8(body.to_vec()).unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Polls `check` every 200 ms until it is true; fails the test after `within`.
pub async fn eventually(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

"""The Helm chart in helm/s3store, rendered with Helm's template engine (Go text/template and
sprig, by helm/render/main.go): the manifests parse, agree with each other (selectors, service
names, volumes, the cluster map and the StatefulSets' pod names), the disruption budget keeps
quorums, and the rendered configuration loads in the binaries' own config loader.
"""

import base64
import os
import subprocess

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "helm", "s3store")
BIN_DIR = os.environ.get("S3STORE_BIN_DIR") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/s3store-target")), "debug"
)


def render(*sets, name="demo", namespace="storage", check=True, values=None):
    cmd = ["go", "run", "./helm/render", "-chart", CHART, "-name", name, "-namespace", namespace]
    if values:
        cmd += ["-f", values]
    for s in sets:
        cmd += ["-set", s]
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOFLAGS": ""}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if not check:
        return proc
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), d
    return docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, name=None):
    found = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in by_kind(docs, kind)])
    return found[0]


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def pods_of(docs, kind):
    return [(d, d["spec"]["template"]["metadata"]["labels"]) for d in by_kind(docs, kind)]


def test_default_render_agrees_with_itself_and_loads(tmp_path):
    docs = render()
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "duplicate manifests"
    config = one(docs, "ConfigMap")["data"]
    secret = one(docs, "Secret")
    statefulsets = by_kind(docs, "StatefulSet")
    assert len(statefulsets) == 3  # one per zone

    # The headless service names every storage node pod, and the map names exactly those pods.
    headless = [s for s in by_kind(docs, "Service") if s["spec"].get("clusterIP") == "None"]
    assert len(headless) == 1
    headless = headless[0]
    cluster = yaml.safe_load(config["cluster.yaml"])
    expected = []
    for sts in statefulsets:
        spec = sts["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["serviceName"] == headless["metadata"]["name"]
        assert selects(spec["selector"]["matchLabels"], labels)
        assert selects(headless["spec"]["selector"], labels)
        zone = labels["s3store.io/zone"]
        port = spec["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        for i in range(spec["replicas"]):
            pod = f"{sts['metadata']['name']}-{i}"
            host = f"{pod}.{headless['metadata']['name']}.storage.svc.cluster.local"
            expected.append({"id": pod, "address": f"{host}:{port}", "zone": zone, "weight": 1})
            node_cfg = yaml.safe_load(config[f"node-{pod}.yaml"])
            assert node_cfg["node_id"] == pod
            assert node_cfg["listen"].endswith(f":{port}")
        args = spec["template"]["spec"]["containers"][0]["args"]
        assert args == ["--log-format", "text", "--config", "/etc/s3store/config/node-$(POD_NAME).yaml"]
        mounts = {m["name"]: m["mountPath"] for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]}
        assert mounts["data"] == yaml.safe_load(config[f"node-{pod}.yaml"])["data_dir"]
        assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert cluster["nodes"] == expected
    assert str(headless["spec"]["ports"][0]["port"]) == expected[0]["address"].rsplit(":", 1)[1]

    # Gateways: the Service and the PDB select the Deployment's pods; probes on /_s3store/ready
    # and /_s3store/health (paths no bucket can have).
    gateway = one(docs, "Deployment")
    gw_labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert selects(gateway["spec"]["selector"]["matchLabels"], gw_labels)
    s3_service = [s for s in by_kind(docs, "Service") if s is not headless][0]
    assert selects(s3_service["spec"]["selector"], gw_labels)
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/_s3store/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/_s3store/health"
    for sts in statefulsets:
        node = sts["spec"]["template"]["spec"]["containers"][0]
        for probe in ["readinessProbe", "livenessProbe"]:
            assert node[probe]["httpGet"]["scheme"] == "HTTPS", probe
    assert s3_service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    gw_cfg = yaml.safe_load(config["gateway.yaml"])
    assert gw_cfg["listen"].endswith(f":{container['ports'][0]['containerPort']}")
    # The admin API: its own port, its own ClusterIP Service, its token from the Secret.
    admin_service = one(docs, "Service", s3_service["metadata"]["name"] + "-admin")
    assert admin_service["spec"]["type"] == "ClusterIP"
    assert selects(admin_service["spec"]["selector"], gw_labels)
    admin_port = next(p for p in container["ports"] if p["name"] == admin_service["spec"]["ports"][0]["targetPort"])
    assert gw_cfg["admin"]["listen"].endswith(f":{admin_port['containerPort']}")
    assert gw_cfg["admin"]["token"] == {"file": "../secrets/admin-token"}
    assert len(base64.b64decode(secret["data"]["admin-token"])) >= 16
    for workload in [gateway, *statefulsets]:
        pod = workload["spec"]["template"]["spec"]
        assert pod["topologySpreadConstraints"], workload["metadata"]["name"]
        assert pod["containers"][0]["resources"]["requests"], workload["metadata"]["name"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["config"]["configMap"]["name"] == one(docs, "ConfigMap")["metadata"]["name"]
        assert volumes["secrets"]["secret"]["secretName"] == secret["metadata"]["name"]

    # Disruption budgets: at most n - max(w, r) storage nodes down; the gateways keep one.
    budgets = {p["metadata"]["name"]: p for p in by_kind(docs, "PodDisruptionBudget")}
    node_pdb = next(p for p in budgets.values() if selects(p["spec"]["selector"]["matchLabels"], statefulsets[0]["spec"]["template"]["metadata"]["labels"]))
    rep = cluster["replication"]
    assert node_pdb["spec"]["maxUnavailable"] == rep["n"] - max(rep["w"], rep["r"])
    gw_pdb = next(p for p in budgets.values() if selects(p["spec"]["selector"]["matchLabels"], gw_labels))
    assert gw_pdb["spec"]["minAvailable"] == 1

    # The files as the pods see them (/etc/s3store/config and /etc/s3store/secrets) load in
    # the binaries' own loaders, secrets included.
    (tmp_path / "config").mkdir()
    (tmp_path / "secrets").mkdir()
    for key, text in config.items():
        (tmp_path / "config" / key).write_text(text)
    for key, value in secret["data"].items():
        (tmp_path / "secrets" / key).write_bytes(base64.b64decode(value))
    assert len(base64.b64decode((tmp_path / "secrets" / "master-key-1").read_text())) == 32
    checks = [[os.path.join(BIN_DIR, "gateway"), "check-config", "--config", str(tmp_path / "config" / "gateway.yaml")]]
    for node in expected:
        checks.append([os.path.join(BIN_DIR, "storage-node"), "--config", str(tmp_path / "config" / f"node-{node['id']}.yaml"), "--check"])
    for cmd in checks:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout}{proc.stderr}"


def test_secrets_are_generated_unless_given_and_never_in_the_defaults(tmp_path):
    values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
    assert values["auth"]["clusterSecret"] == values["auth"]["secretKey"] == values["auth"]["masterKey"] == ""
    first, second = (one(render(), "Secret")["data"] for _ in range(2))
    assert first["secret-key"] != second["secret-key"], "generated, not fixed"
    given = one(render("auth.secretKey=chosen-secret"), "Secret")["data"]
    assert base64.b64decode(given["secret-key"]) == b"chosen-secret"
    assert first["admin-token"] != second["admin-token"]
    off = tmp_path / "no-admin.yaml"
    off.write_text("gateway: { admin: { enabled: false } }\n")
    without = render(values=str(off))
    assert "admin" not in yaml.safe_load(one(without, "ConfigMap")["data"]["gateway.yaml"])
    assert all(not s["metadata"]["name"].endswith("-admin") for s in by_kind(without, "Service"))
    existing = render("auth.existingSecret=mine")
    assert by_kind(existing, "Secret") == []
    assert one(existing, "Deployment")["spec"]["template"]["spec"]["volumes"][1]["secret"]["secretName"] == "mine"


def test_options_render_consistently():
    docs = render(
        "ingress.enabled=true",
        "metrics.serviceMonitor.enabled=true",
        "storage.pinToZones=true",
        "gateway.virtualHostDomain=s3.example.com",
    )
    service = [s for s in by_kind(docs, "Service") if s["spec"].get("clusterIP") != "None"][0]
    ingress = one(docs, "Ingress")
    hosts = [r["host"] for r in ingress["spec"]["rules"]]
    assert hosts == ["s3.example.com", "*.s3.example.com"]
    for rule in ingress["spec"]["rules"]:
        backend = rule["http"]["paths"][0]["backend"]["service"]
        assert backend["name"] == service["metadata"]["name"]
        assert backend["port"]["name"] == service["spec"]["ports"][0]["name"]
    monitors = by_kind(docs, "ServiceMonitor")
    assert len(monitors) == 2
    for m in monitors:
        targets = [s for s in by_kind(docs, "Service") if selects(m["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        assert len(targets) == 1, m["metadata"]["name"]
        assert m["spec"]["endpoints"][0]["port"] in [p["name"] for p in targets[0]["spec"]["ports"]]
        # Gateways serve metrics where no bucket can be; nodes (no S3) at /metrics.
        gateway = m["metadata"]["name"].endswith("-gateway")
        assert m["spec"]["endpoints"][0]["path"] == ("/_s3store/metrics" if gateway else "/metrics")
        # Nodes speak only TLS (certificates of the cluster's own CA).
        assert m["spec"]["endpoints"][0].get("scheme") == (None if gateway else "https")
    for sts in by_kind(docs, "StatefulSet"):
        zone = sts["spec"]["template"]["metadata"]["labels"]["s3store.io/zone"]
        term = sts["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [zone]
    gw_cfg = yaml.safe_load(one(docs, "ConfigMap")["data"]["gateway.yaml"])
    assert gw_cfg["virtual_host_domain"] == "s3.example.com"


def test_logs_and_shutdown_settings_reach_every_process():
    docs = render("logFormat=json", "gateway.shutdownGraceSeconds=40")
    workloads = by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet")
    assert workloads
    for w in workloads:
        args = w["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[:2] == ["--log-format", "json"], args
    gateway = one(docs, "Deployment")["spec"]["template"]["spec"]
    gw_cfg = yaml.safe_load(one(docs, "ConfigMap")["data"]["gateway.yaml"])
    assert gw_cfg["shutdown_grace_seconds"] == 40
    # Kubernetes waits longer than the gateway's own grace period before it kills the pod.
    assert gateway["terminationGracePeriodSeconds"] > gw_cfg["shutdown_grace_seconds"]


def test_more_nodes_and_a_bad_zone_name(tmp_path):
    docs = render("storage.nodesPerZone=2", "epoch=2")
    cluster = yaml.safe_load(one(docs, "ConfigMap")["data"]["cluster.yaml"])
    assert cluster["epoch"] == 2 and len(cluster["nodes"]) == 6
    assert sum(s["spec"]["replicas"] for s in by_kind(docs, "StatefulSet")) == 6
    (tmp_path / "bad.yaml").write_text("storage:\n  zones: [zone-a, Not_A_Label]\n")
    bad = render(check=False, values=str(tmp_path / "bad.yaml"))
    assert bad.returncode != 0 and "storage.zones" in bad.stderr

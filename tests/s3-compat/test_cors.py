"""CORS as S3 answers it: Put/Get/DeleteBucketCors through boto3, preflights and actual
requests with curl, and a real browser (headless Chromium) uploading and reading with presigned
URLs from a page of another origin, allowed by the rules, and blocked from an origin they do not
name."""

import functools
import html
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest
from conftest import s3_error




def curl_headers(endpoint, method, path, *headers):
    """Status and lower-cased headers of a request sent with curl."""
    args = ["curl", "-s", "-o", "/dev/null", "-D", "-", "-X", method]
    for h in headers:
        args += ["-H", h]
    proc = subprocess.run([*args, endpoint.url + path], capture_output=True, text=True, timeout=60, env=endpoint.env())
    lines = proc.stdout.replace("\r", "").split("\n")
    status = int(lines[0].split()[1])
    found = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            found[k.strip().lower()] = v.strip()
    return status, found


RULES = lambda origin: {"CORSRules": [
    {"ID": "app", "AllowedOrigins": [origin], "AllowedMethods": ["GET", "PUT", "HEAD"],
     "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 300},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]}


def test_cors_configuration_api(s3, bucket):
    assert s3_error(lambda: s3.get_bucket_cors(Bucket=bucket)) == ("NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES("https://app.example"))
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["https://app.example"]
    assert rules[0]["AllowedMethods"] == ["GET", "PUT", "HEAD"]
    assert rules[0]["ExposeHeaders"] == ["ETag", "x-amz-request-id"]
    assert rules[0]["MaxAgeSeconds"] == 300 and rules[0]["ID"] == "app"
    assert "AllowedHeaders" not in rules[1]
    bad = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}
    assert s3_error(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=bad)) == ("InvalidRequest", 400)
    two_stars = {"CORSRules": [{"AllowedOrigins": ["https://*.*.example"], "AllowedMethods": ["GET"]}]}
    assert s3_error(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=two_stars)) == ("InvalidRequest", 400)
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == rules
    s3.delete_bucket_cors(Bucket=bucket)
    assert s3_error(lambda: s3.get_bucket_cors(Bucket=bucket)) == ("NoSuchCORSConfiguration", 404)


def test_preflight_and_actual_requests_with_curl(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"hello")
    path = f"/{bucket}/doc.txt"
    ask = ["Origin: https://app.example", "Access-Control-Request-Method: PUT",
           "Access-Control-Request-Headers: content-type, x-amz-date"]
    status, h = curl_headers(endpoint, "OPTIONS", path, *ask)
    assert status == 403  # no rules yet
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES("https://app.example"))
    status, h = curl_headers(endpoint, "OPTIONS", path, *ask)
    assert status == 200, h
    assert h["access-control-allow-origin"] == "https://app.example"
    assert h["access-control-allow-methods"] == "GET, PUT, HEAD"
    assert h["access-control-allow-headers"] == "content-type, x-amz-date"
    assert h["access-control-max-age"] == "300"
    assert h["access-control-allow-credentials"] == "true"
    assert curl_headers(endpoint, "OPTIONS", path, "Origin: https://evil.example", "Access-Control-Request-Method: PUT")[0] == 403
    assert curl_headers(endpoint, "OPTIONS", path, "Origin: https://app.example", "Access-Control-Request-Method: DELETE")[0] == 403
    assert curl_headers(endpoint, "OPTIONS", path, "Access-Control-Request-Method: PUT")[0] == 400
    # The wildcard rule answers HEAD from anywhere, with `*` and no credentials.
    status, h = curl_headers(endpoint, "OPTIONS", path, "Origin: https://elsewhere.example", "Access-Control-Request-Method: HEAD")
    assert status == 200 and h["access-control-allow-origin"] == "*" and "access-control-allow-credentials" not in h

    # Actual requests: the headers come with the response, errors included; not for origins
    # the rules do not name.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "doc.txt"})
    query = url[url.index("?"):]
    status, h = curl_headers(endpoint, "GET", path + query, "Origin: https://app.example")
    assert status == 200
    assert h["access-control-allow-origin"] == "https://app.example"
    assert h["access-control-expose-headers"] == "ETag, x-amz-request-id"
    status, h = curl_headers(endpoint, "GET", path, "Origin: https://app.example")
    assert status == 403 and h["access-control-allow-origin"] == "https://app.example"
    status, h = curl_headers(endpoint, "GET", path + query, "Origin: https://evil.example")
    assert status == 200 and "access-control-allow-origin" not in h
    status, h = curl_headers(endpoint, "GET", path + query)
    assert "access-control-allow-origin" not in h


PAGE = """<!doctype html><html><body><pre id="out">running</pre><script>
const put = {put}, get = {get};
(async () => {{
  const lines = [];
  try {{
    const p = await fetch(put, {{method: "PUT", body: "from the browser", headers: {{"Content-Type": "text/plain"}}}});
    lines.push("PUT " + p.status + " etag=" + p.headers.get("ETag"));
    const g = await fetch(get);
    lines.push("GET " + g.status + " " + await g.text());
  }} catch (e) {{
    lines.push("blocked: " + e.name);
  }}
  document.getElementById("out").textContent = lines.join("\\n");
}})();
</script></body></html>"""


def browser(page_url):
    """The page's text after its script ran, from headless Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    profile = tempfile.mkdtemp(prefix="s3store-chromium-")
    try:
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", page_url],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    dom = proc.stdout
    start, end = dom.find('<pre id="out">'), dom.find("</pre>")
    assert start >= 0, f"no page from chromium: {proc.stderr[-2000:]}"
    return html.unescape(dom[start + len('<pre id="out">'):end])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_page(folder):
    """An HTTP server of `folder` on a free loopback port (another origin than the S3
    endpoint); returns (server, origin)."""
    handler = functools.partial(_Quiet, directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_a_browser_uploads_and_reads_from_another_origin(endpoint, s3, bucket, tmp_path):
    if endpoint.url.startswith("https"):
        pytest.skip("the page is served over plain HTTP")
    server, origin = serve_page(str(tmp_path))
    try:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES(origin))
        for name, key in [("allowed.html", "from-browser.txt")]:
            put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key, "ContentType": "text/plain"})
            get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
            (tmp_path / name).write_text(PAGE.format(put=json.dumps(put), get=json.dumps(get)))
        out = browser(f"{origin}/allowed.html")
        etag = s3.head_object(Bucket=bucket, Key="from-browser.txt")["ETag"]
        assert out == f"PUT 200 etag={etag}\nGET 200 from the browser", out
        # The same page from an origin the rules do not name: the browser blocks the upload.
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES("https://app.example"))
        key = "blocked.txt"
        put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key, "ContentType": "text/plain"})
        get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
        (tmp_path / "blocked.html").write_text(PAGE.format(put=json.dumps(put), get=json.dumps(get)))
        assert browser(f"{origin}/blocked.html") == "blocked: TypeError"
        assert s3_error(lambda: s3.head_object(Bucket=bucket, Key=key)) == ("404", 404)
    finally:
        server.shutdown()

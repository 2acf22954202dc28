"""Static-website buckets: Put/Get/DeleteBucketWebsite with boto3 and aws-cli (`aws s3
website`), and the website endpoint of `gateway dev` (`<bucket>.s3-website.localhost` on its own
port) read anonymously with plain HTTP: index documents (the root and folders, a folder without
its slash redirected), the error document with the error's status, routing rules (by prefix and
by error code), objects stored with `x-amz-website-redirect-location`, a bucket redirecting
every request, and the bucket policy deciding what is public."""

import json

import pytest
import requests

from conftest import s3_error

WEB_DOMAIN = "s3-website.localhost"


def public_read(bucket):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def web_get(endpoint, bucket, path, method="GET", **headers):
    """A request to the website endpoint, as a browser sends it (no signature)."""
    if not endpoint.website_port:
        pytest.skip("needs the website endpoint of a dev cluster started here")
    return requests.request(
        method, f"http://127.0.0.1:{endpoint.website_port}{path}",
        headers={"Host": f"{bucket}.{WEB_DOMAIN}:{endpoint.website_port}", **headers},
        allow_redirects=False, timeout=30)


def site(s3, bucket, **config):
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=config)


def test_website_configuration_round_trips_and_bad_ones_are_refused(s3, bucket):
    assert s3_error(lambda: s3.get_bucket_website(Bucket=bucket)) == ("NoSuchWebsiteConfiguration", 404)
    config = {
        "IndexDocument": {"Suffix": "index.html"},
        "ErrorDocument": {"Key": "error.html"},
        "RoutingRules": [
            {"Condition": {"KeyPrefixEquals": "docs/"}, "Redirect": {"ReplaceKeyPrefixWith": "documents/"}},
            {"Condition": {"HttpErrorCodeReturnedEquals": "404"},
             "Redirect": {"HostName": "example.com", "Protocol": "https", "HttpRedirectCode": "302",
                          "ReplaceKeyWith": "missing.html"}},
        ],
    }
    site(s3, bucket, **config)
    got = s3.get_bucket_website(Bucket=bucket)
    for field in config:
        assert got[field] == config[field], field
    s3.delete_bucket_website(Bucket=bucket)
    assert s3_error(lambda: s3.get_bucket_website(Bucket=bucket))[0] == "NoSuchWebsiteConfiguration"

    def refused(**c):
        return s3_error(lambda: s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=c))

    assert refused(ErrorDocument={"Key": "e.html"}) == ("InvalidArgument", 400)
    assert refused(IndexDocument={"Suffix": "a/index.html"}) == ("InvalidArgument", 400)
    assert refused(IndexDocument={"Suffix": "index.html"},
                   RedirectAllRequestsTo={"HostName": "example.com"}) == ("InvalidArgument", 400)
    assert refused(IndexDocument={"Suffix": "index.html"}, RoutingRules=[{
        "Redirect": {"ReplaceKeyWith": "a", "ReplaceKeyPrefixWith": "b"}}]) == ("InvalidArgument", 400)
    assert refused(IndexDocument={"Suffix": "index.html"}, RoutingRules=[{
        "Redirect": {"HttpRedirectCode": "200"}}]) == ("InvalidArgument", 400)
    assert refused(RedirectAllRequestsTo={"HostName": "example.com", "Protocol": "ftp"}) == ("InvalidArgument", 400)
    assert s3_error(lambda: s3.get_bucket_website(Bucket=bucket))[0] == "NoSuchWebsiteConfiguration"


def test_website_endpoint_serves_index_error_and_redirects(endpoint, s3, bucket):
    put = lambda key, body, ctype="text/html": s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=ctype)
    put("index.html", b"<h1>home</h1>")
    put("blog/index.html", b"<h1>blog</h1>")
    put("blog/post.html", b"<p>post</p>")
    put("style.css", b"body{}", "text/css")
    put("error.html", b"<h1>lost</h1>")
    put("private/secret.html", b"secret")
    site(s3, bucket, IndexDocument={"Suffix": "index.html"}, ErrorDocument={"Key": "error.html"}, RoutingRules=[
        {"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "blog/"}},
        {"Condition": {"KeyPrefixEquals": "gone/", "HttpErrorCodeReturnedEquals": "404"},
         "Redirect": {"HostName": "archive.example", "Protocol": "https", "HttpRedirectCode": "302"}},
    ])
    # Without a policy allowing it, nothing is public, the error document included.
    r = web_get(endpoint, bucket, "/")
    assert r.status_code == 403 and b"AccessDenied" in r.content
    # Public reads (and listing, so that a missing page is 404 rather than 403, as on S3).
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/private/*"}]}))

    r = web_get(endpoint, bucket, "/")
    assert (r.status_code, r.content, r.headers["Content-Type"]) == (200, b"<h1>home</h1>", "text/html")
    assert web_get(endpoint, bucket, "/blog/").content == b"<h1>blog</h1>"
    r = web_get(endpoint, bucket, "/blog")
    assert (r.status_code, r.headers["Location"]) == (302, "/blog/")
    r = web_get(endpoint, bucket, "/style.css")
    assert (r.status_code, r.headers["Content-Type"]) == (200, "text/css")
    r = web_get(endpoint, bucket, "/blog/post.html", Range="bytes=3-6")
    assert (r.status_code, r.content) == (206, b"post")
    r = web_get(endpoint, bucket, "/blog/post.html", method="HEAD")
    assert r.status_code == 200 and r.headers["Content-Length"] == "11"
    # A missing page: the error document, with the error's status.
    r = web_get(endpoint, bucket, "/nope.html")
    assert (r.status_code, r.content) == (404, b"<h1>lost</h1>")
    # Denied by the policy: 403 and the error document.
    r = web_get(endpoint, bucket, "/private/secret.html")
    assert (r.status_code, r.content) == (403, b"<h1>lost</h1>")
    # Routing rules: by prefix before reading, by prefix and error code after.
    r = web_get(endpoint, bucket, "/old/post.html")
    assert (r.status_code, r.headers["Location"]) == (
        301, f"http://{bucket}.{WEB_DOMAIN}:{endpoint.website_port}/blog/post.html")
    r = web_get(endpoint, bucket, "/gone/page.html")
    assert (r.status_code, r.headers["Location"]) == (302, "https://archive.example/gone/page.html")
    # An object stored with a website redirect location redirects; copies do not inherit it.
    s3.put_object(Bucket=bucket, Key="moved.html", Body=b"", WebsiteRedirectLocation="/blog/")
    assert s3.head_object(Bucket=bucket, Key="moved.html")["WebsiteRedirectLocation"] == "/blog/"
    r = web_get(endpoint, bucket, "/moved.html")
    assert (r.status_code, r.headers["Location"]) == (301, "/blog/")
    s3.copy_object(Bucket=bucket, Key="copy.html", CopySource={"Bucket": bucket, "Key": "moved.html"})
    assert "WebsiteRedirectLocation" not in s3.head_object(Bucket=bucket, Key="copy.html")
    assert s3_error(lambda: s3.put_object(Bucket=bucket, Key="bad.html", Body=b"",
                                          WebsiteRedirectLocation="ftp://x")) == ("InvalidArgument", 400)
    # Only reads: anything else is 405, and the S3 API is not reachable here.
    assert web_get(endpoint, bucket, "/index.html", method="PUT").status_code == 405
    assert web_get(endpoint, bucket, "/index.html", method="DELETE").status_code == 405
    assert s3.get_object(Bucket=bucket, Key="index.html")["Body"].read() == b"<h1>home</h1>"
    # Without an error document, S3's HTML page.
    site(s3, bucket, IndexDocument={"Suffix": "index.html"})
    r = web_get(endpoint, bucket, "/nope.html")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    assert b"NoSuchKey" in r.content
    s3.delete_bucket_policy(Bucket=bucket)


def test_redirect_all_requests_and_missing_sites(endpoint, s3, bucket):
    r = web_get(endpoint, bucket, "/")
    assert r.status_code == 404 and b"NoSuchWebsiteConfiguration" in r.content
    r = web_get(endpoint, "no-such-bucket-web", "/")
    assert r.status_code == 404 and b"NoSuchBucket" in r.content
    site(s3, bucket, RedirectAllRequestsTo={"HostName": "www.example.org", "Protocol": "https"})
    r = web_get(endpoint, bucket, "/a/b.html")
    assert (r.status_code, r.headers["Location"]) == (301, "https://www.example.org/a/b.html")


def test_aws_cli_website_command(endpoint, aws, s3, bucket):
    aws("s3", "website", f"s3://{bucket}/", "--index-document", "index.html", "--error-document", "404.html")
    got = json.loads(aws("s3api", "get-bucket-website", "--bucket", bucket).stdout)
    assert got["IndexDocument"] == {"Suffix": "index.html"}
    assert got["ErrorDocument"] == {"Key": "404.html"}
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"cli site", ContentType="text/html")
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    assert web_get(endpoint, bucket, "/").content == b"cli site"
    s3.delete_bucket_policy(Bucket=bucket)

"""The web console in a real browser: Debian's chromium, headless, driven through chromedriver
(selenium). Each page (cluster health, buckets, keys and grants, jobs) is loaded against the
running cluster, its content checked against what the cluster holds, its forms and buttons
used (sign in, set a quota, create a key and use its secret, grant, revoke, delete, stop and
start a job, run a repair), and a screenshot of each is saved under the test's temp folder."""

import os
import shutil
import tempfile
import time
import uuid

import boto3
import pytest
import requests
from botocore.config import Config

selenium = pytest.importorskip("selenium", reason="selenium is not installed (scripts/setup.sh installs it)")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def console(endpoint):
    if endpoint.admin_api is None:
        pytest.skip("needs the admin API: a dev cluster started here, or S3STORE_ADMIN_ENDPOINT")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if chromium is None or driver_bin is None:
        pytest.skip("chromium and chromedriver are not installed (scripts/setup.sh installs them)")
    _, url, token, ca = endpoint.admin_api
    profile = tempfile.mkdtemp(prefix="s3store-console-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", f"--user-data-dir={profile}", "--no-proxy-server"):
        options.add_argument(arg)
    if ca:
        options.add_argument("--ignore-certificate-errors")  # the dev cluster's own CA
    service = Service(executable_path=driver_bin)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver, url, token
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver, what, timeout=30):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: what(d))


def text_of(driver, css):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def open_page(driver, url, path):
    """Loads a console page and waits for its data (the page marks itself loaded)."""
    driver.get(url + path)  # a new page has no data-loaded until its data is in
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") is not None
         or d.find_element(By.ID, "error").is_displayed())
    assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text


def rendered_again(driver, action):
    """Runs `action` (a click or a submit) and waits until the page has rendered again."""
    before = driver.find_element(By.TAG_NAME, "body").get_attribute("data-loaded")
    action()
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") != before
         or d.find_element(By.ID, "error").is_displayed())
    assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text


def screenshot(driver, folder, name):
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, f"{path}: no real screenshot"
    print(f"screenshot: {path}")


def test_console_pages_in_chromium(console, endpoint, s3, tmp_path):
    driver, url, token = console
    shots = tmp_path / "screenshots"
    shots.mkdir()
    bucket = "con-" + uuid.uuid4().hex[:10]
    s3.create_bucket(Bucket=bucket)
    kid = None
    try:
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"v" * (1000 * (i + 1)))
        s3.put_bucket_policy(Bucket=bucket, Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                             '"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}' % bucket)

        # Sign in: a wrong token is refused with a message, the right one shows the cluster.
        driver.get(url + "/")
        wait(driver, lambda d: d.find_element(By.ID, "login").is_displayed())
        assert driver.current_url.endswith("/console/")
        driver.find_element(By.ID, "token").send_keys("not-the-admin-token")
        driver.find_element(By.ID, "signin").click()
        wait(driver, lambda d: "not accepted" in text_of(d, "#login-error"))
        screenshot(driver, shots, "0-sign-in-refused")
        field = driver.find_element(By.ID, "token")
        field.clear()
        field.send_keys(token)
        driver.find_element(By.ID, "signin").click()
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#nodes tbody tr")) >= 3)
        assert not driver.find_element(By.ID, "login").is_displayed()

        # Cluster health: every node, its zone and state, as the API says.
        status = requests.get(url + "/admin/v1/cluster", headers={"Authorization": f"Bearer {token}"},
                              verify=False if endpoint.ca_bundle else True).json()
        rows = driver.find_elements(By.CSS_SELECTOR, "#nodes tbody tr")
        assert len(rows) == len(status["nodes"])
        for node in status["nodes"]:
            row = driver.find_element(By.CSS_SELECTOR, f"tr[data-node='{node['id']}']").text
            assert node["address"] in row and node["zone"] in row and "up" in row
        assert text_of(driver, "#nodes-up").endswith(f"{len(status['nodes'])} of {len(status['nodes'])}")
        assert "zone-1" in text_of(driver, "#zones")
        assert "no data moving" in text_of(driver, "#moving")
        screenshot(driver, shots, "1-cluster")

        # Buckets: objects, bytes, policy summary; a quota set through the form is enforced.
        open_page(driver, url, "/console/buckets")
        row = driver.find_element(By.CSS_SELECTOR, f"tr[data-bucket='{bucket}']").text
        assert " 3 " in f" {row} " and "5.9 KiB" in row and "1 statement, public" in row, row
        driver.find_element(By.CSS_SELECTOR, f"#quota-bucket option[value='{bucket}']").click()
        driver.find_element(By.ID, "quota-objects").send_keys("3")
        rendered_again(driver, lambda: driver.find_element(By.ID, "quota-set").click())
        row = driver.find_element(By.CSS_SELECTOR, f"tr[data-bucket='{bucket}']").text
        assert "3 of 3 objects" in row, row
        screenshot(driver, shots, "2-buckets")
        time.sleep(1.2)  # the S3 front's bucket cache
        with pytest.raises(Exception) as refused:
            s3.put_object(Bucket=bucket, Key="k9", Body=b"x")
        assert "QuotaExceeded" in str(refused.value)

        # Keys: create one, use its secret, grant, revoke, delete.
        open_page(driver, url, "/console/keys")
        kid = "CON" + uuid.uuid4().hex[:12].upper()
        driver.find_element(By.ID, "new-key-id").send_keys(kid)
        rendered_again(driver, lambda: driver.find_element(By.ID, "create-key").click())
        secret = text_of(driver, "#created-secret")
        assert len(secret) >= 40 and kid in text_of(driver, "#created-key")
        assert driver.find_elements(By.CSS_SELECTOR, f"tr[data-key='{kid}']")
        driver.find_element(By.CSS_SELECTOR, f"#grant-key option[value='{kid}']").click()
        driver.find_element(By.CSS_SELECTOR, f"#grant-bucket option[value='{bucket}']").click()
        driver.find_element(By.CSS_SELECTOR, "#grant-role option[value='read']").click()
        rendered_again(driver, lambda: driver.find_element(By.ID, "grant").click())
        assert f"{bucket}: read" in driver.find_element(By.CSS_SELECTOR, f"tr[data-key='{kid}']").text
        screenshot(driver, shots, "3-keys")
        time.sleep(1.2)  # stored keys reach the S3 front within a second
        theirs = boto3.session.Session().client(
            "s3", endpoint_url=endpoint.url, aws_access_key_id=kid, aws_secret_access_key=secret,
            region_name=endpoint.region, verify=endpoint.ca_bundle or True,
            config=Config(s3={"addressing_style": "path"}))
        assert theirs.list_objects_v2(Bucket=bucket)["KeyCount"] == 3
        rendered_again(driver, lambda: driver.find_element(
            By.CSS_SELECTOR, f"button[data-revoke='{kid}/{bucket}']").click())
        assert "no grants" in driver.find_element(By.CSS_SELECTOR, f"tr[data-key='{kid}']").text
        delete = driver.find_element(By.CSS_SELECTOR, f"button[data-delete='{kid}']")
        delete.click()
        assert delete.text == "Confirm delete"
        rendered_again(driver, lambda: delete.click())
        assert not driver.find_elements(By.CSS_SELECTOR, f"tr[data-key='{kid}']")
        kid = None

        # Jobs: stop and start repair, run a pass, see the rotation's state.
        open_page(driver, url, "/console/jobs")
        assert text_of(driver, "[data-state='repair']") == "running"
        rendered_again(driver, lambda: driver.find_element(By.CSS_SELECTOR, "[data-stop='repair']").click())
        assert text_of(driver, "[data-state='repair']") == "stopped"
        screenshot(driver, shots, "4-jobs-stopped")
        rendered_again(driver, lambda: driver.find_element(By.CSS_SELECTOR, "[data-start='repair']").click())
        assert text_of(driver, "[data-state='repair']") == "running"
        rendered_again(driver, lambda: driver.find_element(By.ID, "repair").click())
        assert "complete" in text_of(driver, "#repair-result")
        assert "every envelope and access key is under it" in text_of(driver, "#rotation")
        screenshot(driver, shots, "5-jobs")

        # The browser loaded nothing from elsewhere and the page logged no errors.
        for entry in driver.get_log("browser"):
            assert entry["level"] != "SEVERE" or "/admin/v1/" in entry["message"], entry

        # Signing out forgets the token.
        driver.find_element(By.ID, "signout").click()
        assert driver.find_element(By.ID, "login").is_displayed()
        assert driver.execute_script("return sessionStorage.length") == 0
    finally:
        if kid:
            requests.delete(f"{url}/admin/v1/keys/{kid}", headers={"Authorization": f"Bearer {token}"},
                            verify=False if endpoint.ca_bundle else True)
        requests.delete(f"{url}/admin/v1/buckets/{bucket}/quota", headers={"Authorization": f"Bearer {token}"},
                        verify=False if endpoint.ca_bundle else True)
        for i in range(3):
            s3.delete_object(Bucket=bucket, Key=f"k{i}")
        s3.delete_bucket(Bucket=bucket)

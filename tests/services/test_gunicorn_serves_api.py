"""The production web command, outside Docker: gunicorn with several workers and DEBUG off serves
the AWS KMS API to boto3, the collected static files through WhiteNoise, and the health probes.

This runs, step by step, what the Dockerfile and docker-compose.yml run (CI here has no Docker
engine): `collectstatic` as the image build does (DJANGO_DEBUG=1, no secrets), `migrate` as the
one-shot migrate service does, then `gunicorn kmsconsole.wsgi` in production mode with every
secret from a file and X-Forwarded-Proto trusted from the TLS proxy, as the web service does. The
database is a SQLite file of its own: what is under test is the serving, not the database engine.
"""

import base64
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time

import boto3
import pytest
from botocore.config import Config

from tests.web.test_production_mode import ROOT, production_environment

pytestmark = pytest.mark.slow

ACCOUNT_ID = "210987654321"
ACCESS_KEY_ID = "AKIAGUNICORNTEST0001"
SECRET = "gunicorn/test/secret/access/key/0000000001"
WORKERS = 2
SEED = f"""
accounts:
  - id: "{ACCOUNT_ID}"
    users:
      - name: operator
        access_keys:
          - id: {ACCESS_KEY_ID}
            secret: "{SECRET}"
        policies: [AdministratorAccess]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(env: dict, *args: str) -> None:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"


def get(port: int, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    """One request, no redirect followed (the redirect to HTTPS is itself under test)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def wait_until_serving(process: subprocess.Popen, port: int, log_path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            if get(port, "/healthz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"gunicorn did not serve /healthz in time:\n{log_path.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's process group (master and workers); SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gunicorn")
    static_root = folder / "static"
    # The image build: collectstatic in development mode, with no secret at all.
    build_env = production_environment(
        folder, DJANGO_DEBUG="1", DJANGO_STATIC_ROOT=str(static_root), KMS_VAR_DIR=str(
            folder / "build-var"), KMS_ROOT_KEY_FILE=None, DJANGO_SECRET_KEY_FILE=None,
        AUDIT_DIGEST_KEY_FILE=None, DJANGO_ALLOWED_HOSTS=None)
    run(build_env, "manage.py", "collectstatic", "--noinput")
    # The running stack: production mode, as docker-compose.yml configures it.
    env = production_environment(
        folder, DATABASE_URL=f"sqlite:///{folder / 'kms.sqlite3'}",
        DJANGO_STATIC_ROOT=str(static_root), DJANGO_SECURE_PROXY_SSL_HEADER="1")
    run(env, "manage.py", "migrate", "--noinput")
    seed = folder / "seed.yaml"
    seed.write_text(SEED)
    run(env, "manage.py", "kms_seed", str(seed))
    port = free_port()
    log_path = folder / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "kmsconsole.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(WORKERS), "--timeout", "30"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_serving(process, port, log_path)
        yield {"port": port, "log": log_path, "static_root": static_root}
    finally:
        stop(process)


def _as_if_through_the_tls_proxy(request, **kwargs):
    # What the TLS-terminating proxy adds in front of gunicorn (unsigned, as a proxy adds it).
    request.headers["X-Forwarded-Proto"] = "https"
    request.headers["Connection"] = "close"


@pytest.fixture
def kms(server):
    client = boto3.client(
        "kms", endpoint_url=f"http://127.0.0.1:{server['port']}", region_name="eu-west-1",
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}))
    client.meta.events.register("before-send.kms.*", _as_if_through_the_tls_proxy)
    return client


def test_gunicorn_runs_several_workers(server):
    assert server["log"].read_text().count("Booting worker with pid") == WORKERS


def test_gunicorn_serves_the_kms_api_to_boto3_in_production_mode(kms):
    key_id = kms.create_key(Description="served by gunicorn")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/gunicorn", TargetKeyId=key_id)
    blob = kms.encrypt(KeyId="alias/gunicorn", Plaintext=b"through gunicorn",
                       EncryptionContext={"purpose": "test"})["CiphertextBlob"]
    # Several requests: each may land on another worker process, all share the root key.
    for _ in range(WORKERS * 2):
        decrypted = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "test"})
        assert decrypted["Plaintext"] == b"through gunicorn"
        assert decrypted["KeyId"].endswith(key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"].startswith(
        f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/")


def test_a_caller_without_valid_credentials_is_refused_by_gunicorn(server):
    stranger = boto3.client(
        "kms", endpoint_url=f"http://127.0.0.1:{server['port']}", region_name="eu-west-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=base64.b64encode(os.urandom(30)).decode(),
        config=Config(retries={"max_attempts": 1}))
    stranger.meta.events.register("before-send.kms.*", _as_if_through_the_tls_proxy)
    with pytest.raises(stranger.exceptions.ClientError) as refused:
        stranger.list_keys()
    assert refused.value.response["Error"]["Code"] in {"IncompleteSignatureException",
                                                       "InvalidSignatureException"}


def test_plain_http_is_redirected_to_https_in_production(server):
    response = get(server["port"], "/signin", {"Host": "kms.example.com"})
    assert response.status == 301
    assert response.getheader("Location") == "https://kms.example.com/signin"


def test_gunicorn_with_debug_off_serves_collected_css_through_whitenoise(server):
    headers = {"X-Forwarded-Proto": "https"}
    response = get(server["port"], "/static/css/console.css", headers)
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/css")
    assert response.body == (server["static_root"] / "css" / "console.css").read_bytes()
    assert "max-age=60" in response.getheader("Cache-Control")
    compressed = get(server["port"], "/static/css/console.css",
                     {**headers, "Accept-Encoding": "gzip"})
    assert compressed.status == 200
    assert compressed.getheader("Content-Encoding") == "gzip"
    assert get(server["port"], "/static/css/not-there.css", headers).status == 404


def test_every_static_file_the_sign_in_page_names_is_served(server):
    """The page's stylesheets and scripts (htmx comes from django-htmx's static files) all
    resolve with DEBUG off, where no Django view serves static files."""
    headers = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}
    page = get(server["port"], "/signin", headers)
    assert page.status == 200
    paths = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.body.decode())
    assert any(path.endswith(".css") for path in paths)
    assert any("htmx" in path and path.endswith(".js") for path in paths)
    for path in paths:
        assert get(server["port"], path, headers).status == 200, path


def test_gunicorn_answers_the_probes_over_plain_http(server):
    assert get(server["port"], "/healthz").status == 200
    ready = get(server["port"], "/readyz")
    assert ready.status == 200
    assert b'"migrations": "applied"' in ready.body

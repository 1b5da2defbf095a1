"""The distributed stack as shipped: docker-compose.yml is valid Compose, and web runs under gunicorn."""

from __future__ import annotations

import json
import re
import runpy
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import load_config
from tests.conftest import ROOT, free_port

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
GUNICORN = Path(sys.executable).parent / "gunicorn"
GUNICORN_CONF = ROOT / "monitor" / "web" / "gunicorn_conf.py"
# monitor/wsgi.py refuses to load behind a placeholder or short token, so every served test sets a real one.
OPS_TOKEN = secrets.token_hex(32)
REQUIRED_TOKEN = re.compile(r"^\$\{PORTALWATCH_OPS_TOKEN:\?[^}]+\}$")


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    # The Compose Specification's JSON schema (vendored by check-jsonschema): no Docker engine needed.
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_stack_runs_web_worker_scheduler_on_postgres_and_redis() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"web", "worker", "scheduler", "postgres", "redis"} <= services.keys()
    assert services["worker"]["command"][:4] == ["python", "-m", "monitor", "worker"]
    assert services["scheduler"]["command"][:4] == ["python", "-m", "monitor", "scheduler"]
    assert "monitor.wsgi:app" in services["web"]["command"]
    for name in ("web", "worker", "scheduler"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"].startswith("redis://")
        config = ROOT / env["PORTALWATCH_CONFIG"].removeprefix("/app/")
        assert load_config(config).components  # the file the stack is told to read exists and is valid


def test_no_compose_service_has_a_default_ops_token() -> None:
    # `${VAR:-default}` would start production with a token everyone who read this file knows;
    # `${VAR:?message}` makes `docker compose` refuse to start until a real secret is set.
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    tokens = {
        name: service["environment"]["PORTALWATCH_OPS_TOKEN"]
        for name, service in services.items()
        if "PORTALWATCH_OPS_TOKEN" in (service.get("environment") or {})
    }
    assert "web" in tokens  # the service that serves the ops API gets one
    for name, value in tokens.items():
        assert REQUIRED_TOKEN.match(value), f"{name}: PORTALWATCH_OPS_TOKEN={value!r} is not a required variable"
    assert not re.search(r"PORTALWATCH_OPS_TOKEN:?-", COMPOSE.read_text())  # nor a default anywhere else


def test_web_runs_gunicorn_with_the_shipped_configuration_in_compose_and_the_image() -> None:
    web = yaml.safe_load(COMPOSE.read_text())["services"]["web"]["command"]
    assert web[:3] == ["gunicorn", "-c", "/app/monitor/web/gunicorn_conf.py"]
    cmd = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD "))
    assert json.loads(cmd.removeprefix("CMD ")) == [
        "gunicorn",
        "-c",
        "/app/monitor/web/gunicorn_conf.py",
        "monitor.wsgi:app",
    ]


def shipped_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """The settings gunicorn reads from monitor/web/gunicorn_conf.py, with only these variables set."""
    for name in ("PORTALWATCH_WEB_BIND", "PORTALWATCH_WEB_WORKERS", "WEB_CONCURRENCY", "PORTALWATCH_WEB_KEEPALIVE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_the_shipped_gunicorn_settings_use_gevent_workers_with_timeouts_and_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = shipped_settings(monkeypatch)
    assert settings["worker_class"] == "gevent"
    assert (settings["workers"], settings["worker_connections"]) == (2, 1000)
    assert settings["bind"] == ["127.0.0.1:8080"]  # outside a container, loopback unless told otherwise
    assert 0 < settings["keepalive"] <= 10  # the gevent worker's only bound on a client's headers
    assert settings["graceful_timeout"] < 30  # compose's stop_grace_period
    assert settings["preload_app"] is False
    assert settings["accesslog"] == "-"
    assert settings["limit_request_line"] <= 4094 and settings["limit_request_fields"] <= 100
    assert shipped_settings(monkeypatch, PORTALWATCH_WEB_WORKERS="3")["workers"] == 3
    assert shipped_settings(monkeypatch, WEB_CONCURRENCY="4")["workers"] == 4
    assert shipped_settings(monkeypatch, PORTALWATCH_WEB_BIND="0.0.0.0:9000")["bind"] == ["0.0.0.0:9000"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORTALWATCH_WEB_KEEPALIVE", "0"), ("PORTALWATCH_WEB_WORKERS", "0"), ("PORTALWATCH_WEB_WORKERS", "two")],
)
def test_the_shipped_gunicorn_settings_refuse_values_that_would_not_hold(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # keepalive 0 would let a client take as long as it likes over its headers.
    with pytest.raises(ValueError, match=name):
        shipped_settings(monkeypatch, **{name: value})


def web_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment the web process gets in production, minus Redis (the web never needs it to serve)."""
    return {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "PORTALWATCH_CONFIG": str(ROOT / "demo" / "portalwatch.yaml"),
        "PORTALWATCH_OPS_TOKEN": OPS_TOKEN,
        **extra,
    }


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "monitor", "migrate"], cwd=ROOT, env=env, check=True, timeout=60)


@contextmanager
def gunicorn(args: list[str], env: dict[str, str], port: int, log: Path, cwd: Path) -> Iterator[str]:
    """gunicorn with these arguments, once it answers on 127.0.0.1:`port`; stopped (SIGTERM) afterwards."""
    with log.open("wb") as out:
        server = subprocess.Popen([str(GUNICORN), *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/status.json", timeout=5):
                    break
            except (OSError, urllib.error.HTTPError):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def shipped_gunicorn(env: dict[str, str]) -> tuple[int, dict[str, str], list[str]]:
    """The port, environment and arguments of `gunicorn -c monitor/web/gunicorn_conf.py monitor.wsgi:app`."""
    port = free_port()
    return port, {**env, "PORTALWATCH_WEB_BIND": f"127.0.0.1:{port}"}, ["-c", str(GUNICORN_CONF), "monitor.wsgi:app"]


@pytest.mark.timeout(90)
def test_web_serves_the_status_api_under_gunicorn_with_the_shipped_configuration(tmp_path: Path) -> None:
    env = web_env(f"sqlite:///{tmp_path / 'pw.db'}")
    migrate(env)
    port, env, args = shipped_gunicorn(env)
    # Started from a directory that is not the project's: the configuration puts the project on sys.path.
    with gunicorn(args, env, port, tmp_path / "gunicorn.log", cwd=tmp_path) as url:
        with urllib.request.urlopen(f"{url}/api/v2/summary.json", timeout=5) as response:
            summary = json.load(response)
            headers = response.headers
        assert summary["status"]["indicator"] == "none"
        assert [c["id"] for c in summary["components"]] == [
            "pr-portal",
            "representative-portal",
            "employer-portal",
            "sign-in",
        ]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Using worker: gevent" in log
    assert "MonkeyPatchWarning" not in log  # nothing was imported before the workers were patched
    assert '"GET /api/v2/summary.json HTTP/1.1" 200' in log  # the access log goes to stdout

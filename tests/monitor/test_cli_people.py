"""People at the command line: create-user prints a working token as its last line; tokens are revoked by
prefix; verify-audit exits 0 only while the audit log verifies."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.storage.engine import transaction
from monitor.storage.enums import AuditAction
from monitor.storage.models import AuditEntry
from monitor.usecases import people
from monitor.web import create_app
from tests.conftest import OFFLINE_CONFIG, ROOT, make_runtime

PASSWORD = "correct horse battery staple"


def monitor(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "portalwatch.yaml"
    config.write_text(OFFLINE_CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTALWATCH_", "SLACK_", "REDIS_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    env["PORTALWATCH_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "--config", str(config)],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def me(tmp_path: Path, token: str) -> tuple[int, dict[str, object]]:
    runtime = make_runtime(f"sqlite:///{tmp_path / 'cli.db'}", OFFLINE_CONFIG)
    try:
        response = create_app(runtime).test_client().get("/api/ops/me", headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json()
    finally:
        runtime.close()


@pytest.fixture
def otto(tmp_path: Path) -> str:
    """otto, an ops person with a dashboard password read from standard input: his first token."""
    created = monitor(
        tmp_path,
        "create-user",
        "otto",
        "--role",
        "ops",
        "--slack-user-id",
        "U012AB3CD",
        "--password",
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    assert PASSWORD not in created.stdout + created.stderr
    lines = created.stdout.strip().splitlines()
    assert lines[0] == "created otto (ops); may sign in to the dashboard"
    return lines[-1]


def test_create_user_prints_a_token_as_its_last_line_that_works_against_the_api(tmp_path: Path, otto: str) -> None:
    assert otto.startswith("pw_")
    status, body = me(tmp_path, otto)
    assert (status, body["name"], body["role"]) == (200, "otto", "ops")

    runtime = make_runtime(f"sqlite:///{tmp_path / 'cli.db'}", OFFLINE_CONFIG)
    try:
        assert people.check_password(runtime.sessions, "otto", PASSWORD) is not None
    finally:
        runtime.close()


def test_create_user_refuses_a_taken_name_a_weak_password_and_an_unknown_role(tmp_path: Path, otto: str) -> None:
    again = monitor(tmp_path, "create-user", "otto", "--role", "ops")
    assert again.returncode == 1 and "there is already a person named 'otto'" in again.stderr
    weak = monitor(tmp_path, "create-user", "vera", "--role", "viewer", "--password", stdin="short\n")
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr and "short" not in weak.stderr
    unknown = monitor(tmp_path, "create-user", "vera", "--role", "owner")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
    viewer = monitor(tmp_path, "create-user", "vera", "--role", "viewer")
    assert viewer.returncode == 0, viewer.stderr
    assert "has no password (API tokens only)" in viewer.stdout


def test_tokens_are_made_and_revoked_by_prefix(tmp_path: Path, otto: str) -> None:
    made = monitor(tmp_path, "create-token", "otto")
    assert made.returncode == 0, made.stderr
    second = made.stdout.strip().splitlines()[-1]
    assert second != otto and me(tmp_path, second)[0] == 200

    revoked = monitor(tmp_path, "revoke-token", second[:11])
    assert revoked.returncode == 0, revoked.stderr
    assert f"token {second[:11]} of otto revoked" in revoked.stdout
    assert me(tmp_path, second)[0] == 401
    assert me(tmp_path, otto)[0] == 200  # his other token still works
    assert monitor(tmp_path, "revoke-token", "zz99zz99").returncode == 1
    assert monitor(tmp_path, "create-token", "nobody").returncode == 1


def test_verify_audit_exits_1_and_names_the_entry_edited_in_the_database(tmp_path: Path, otto: str) -> None:
    monitor(tmp_path, "create-token", "otto")
    verified = monitor(tmp_path, "verify-audit")
    assert verified.returncode == 0, verified.stderr
    read, last, verifies = verified.stdout.splitlines()[-3:]
    assert (read, verifies) == ("3 audit entries read", "the audit log verifies")
    assert re.fullmatch("last entry 3, hash [0-9a-f]{64}", last)

    with sqlite3.connect(tmp_path / "cli.db") as connection:
        connection.execute("UPDATE audit_log SET after = replace(after, '\"ops\"', '\"admin\"') WHERE id = 2")
    broken = monitor(tmp_path, "verify-audit")
    assert broken.returncode == 1
    assert "the audit log does not verify" in broken.stderr
    [line] = [line for line in broken.stdout.splitlines() if line.startswith("BROKEN")]
    assert line.startswith("BROKEN: entry 2 (token_created of token:")
    assert "by cli at 20" in line
    assert "a field of this entry (when, who, what, before, after or why) was edited" in line


def test_set_slack_user_links_a_person_is_audited_and_refuses_an_id_taken_or_malformed(
    tmp_path: Path, otto: str
) -> None:
    linked = monitor(tmp_path, "set-slack-user", "otto", "U0OTTO42")
    assert linked.returncode == 0, linked.stderr
    assert linked.stdout.strip() == "otto is Slack user U0OTTO42: their Acknowledge presses in Slack act as them"
    assert monitor(tmp_path, "create-user", "vera", "--role", "viewer", "--slack-user-id", "U0VERA1").returncode == 0
    taken = monitor(tmp_path, "set-slack-user", "otto", "U0VERA1")
    assert taken.returncode == 1 and "U0VERA1 is already vera's" in taken.stderr
    malformed = monitor(tmp_path, "set-slack-user", "otto", "marie@example.com")
    assert malformed.returncode == 1 and "slack_user_id" in malformed.stderr
    assert monitor(tmp_path, "set-slack-user", "nobody", "U0NOBODY").returncode == 1
    assert monitor(tmp_path, "set-slack-user", "otto", "none").stdout.strip() == "otto is linked to no Slack account"

    runtime = make_runtime(f"sqlite:///{tmp_path / 'cli.db'}", OFFLINE_CONFIG)
    try:
        with transaction(runtime.sessions) as session:
            entries = session.scalars(
                select(AuditEntry).where(AuditEntry.action == AuditAction.SLACK_USER_SET).order_by(AuditEntry.id)
            ).all()
            assert [(e.actor, e.subject, e.before, e.after) for e in entries] == [
                ("cli", "person:otto", {"slack_user_id": "U012AB3CD"}, {"slack_user_id": "U0OTTO42"}),
                ("cli", "person:otto", {"slack_user_id": "U0OTTO42"}, {"slack_user_id": None}),
            ]
    finally:
        runtime.close()

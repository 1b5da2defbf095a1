"""What a running PortalWatch process holds: settings, configuration, database, channels, and how to send jobs.

`dispatch` is how use cases hand work to run later (a check's outbox deliveries, relief): Celery
in distributed mode, a thread pool in embedded mode, inline when nothing else is set (the CLI,
tests). The composition roots (cli, wsgi, the Celery worker) choose it; use cases never import
Celery or threads.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from exemptions.letters import Signer
from monitor.config import Config, load_config
from monitor.evidence.store import EvidenceStore, FileStore
from monitor.notify.slack.channel import SlackChannel
from monitor.settings import Settings
from monitor.storage.engine import make_engine, make_sessionmaker, utcnow
from probes.engine import ProbeEngine


class Dispatch(Protocol):
    def __call__(self, job: str, args: tuple[Any, ...], *, queue: str, expires: float | None = None) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    slack: SlackChannel
    clock: Callable[[], datetime] = field(default=utcnow)
    dispatch: Dispatch | None = None  # None: jobs run inline, in the caller's thread
    _signer: Signer | None = field(default=None, repr=False)
    _probe_engine: ProbeEngine[Any] | None = field(default=None, repr=False)
    _evidence_store: EvidenceStore | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, settings: Settings, config: Config | None = None) -> Runtime:
        config = config if config is not None else load_config(settings.config_path)
        # The probe batches' threads, and a few more for deliveries, relief and the scheduler.
        engine = make_engine(settings.database, pool_size=settings.probe_batches + 4)
        token = settings.slack_token.get_secret_value() if settings.slack_token else None
        return cls(
            settings=settings,
            config=config,
            engine=engine,
            sessions=make_sessionmaker(engine),
            slack=SlackChannel(
                token, settings.slack_channel, base_url=settings.slack_api_url, timeout=settings.slack_timeout
            ),
        )

    def signer(self) -> Signer:
        """The letters' signing key: configured by path or PKCS#12, else a self-signed one kept in data_dir."""
        with self._lock:
            if self._signer is None:
                self._signer = load_signer(self.settings, self.config.page.name)
            return self._signer

    def webhook_secret(self) -> str:
        """The Standard Webhooks secret notices are signed with: configured, or made once and kept in data_dir."""
        if self.settings.webhook_secret is not None:
            return self.settings.webhook_secret.get_secret_value()
        return kept_secret(self.settings.data_path / "webhook-secret", _new_webhook_secret)

    def secret_key(self) -> str:
        """Signs session cookies and form tokens: configured, or made once and kept in data_dir."""
        if self.settings.secret_key is not None:
            return self.settings.secret_key.get_secret_value()
        return kept_secret(self.settings.data_path / "secret-key", lambda: secrets.token_hex(32))

    def evidence_store(self) -> EvidenceStore:
        """Where large pieces of evidence (screenshots) are kept by SHA-256: `PORTALWATCH_EVIDENCE_DIR`."""
        with self._lock:
            if self._evidence_store is None:
                self._evidence_store = FileStore(self.settings.evidence_path)
            return self._evidence_store

    def probe_engine(self) -> ProbeEngine[Any]:
        """This process's event loop for checks, started on first use (after any fork)."""
        with self._lock:
            if self._probe_engine is None:
                self._probe_engine = ProbeEngine(concurrency=self.settings.probe_concurrency)
            return self._probe_engine

    def close(self) -> None:
        if self._probe_engine is not None:
            self._probe_engine.close()
        self.engine.dispose()


def load_signer(settings: Settings, common_name: str) -> Signer:
    password = None if settings.letters_password is None else settings.letters_password.get_secret_value().encode()
    if settings.letters_pkcs12:
        return Signer.from_pkcs12(Path(settings.letters_pkcs12), password)
    if settings.letters_key or settings.letters_cert:
        if not (settings.letters_key and settings.letters_cert):
            raise ValueError("set both LETTERS_SIGNING_KEY and LETTERS_SIGNING_CERT, or LETTERS_SIGNING_PKCS12")
        return Signer.from_pem(Path(settings.letters_key), Path(settings.letters_cert), password)
    return Signer.self_signed(settings.data_path / "letters", common_name)


def _new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret read from `path`, made and written (0600, atomically) the first time; same on every restart.

    Two processes starting at once may both make one: the hard link only succeeds for the first, and
    both read the file back afterwards, so both use the one that landed.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(make())
        try:
            os.link(temporary, path)  # fails if another process got there first: theirs is kept
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()

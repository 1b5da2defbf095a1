"""Process settings from the environment, with defaults that make the embedded mode just work.

Secrets (the ops token, Slack's token and signing secret, passwords inside DATABASE_URL or REDIS_URL) are SecretStr:
a repr, a log line or a traceback of Settings never shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite:///portalwatch.db"
MIN_OPS_TOKEN_LENGTH = 24
# Values people paste from examples; a service that accepts them is open to anyone who read the README.
_PLACEHOLDER_TOKENS = frozenset({"change-me", "changeme", "demo-token", "secret", "token", "password", "ops-token"})


_DEFAULTS = {
    "database_url": DEFAULT_DATABASE_URL,
    "config_path": "portalwatch.yaml",
    "location": "local",
}


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    database_url: SecretStr = Field(
        SecretStr(DEFAULT_DATABASE_URL), validation_alias=_env("DATABASE_URL", "database_url")
    )
    # set: distributed mode with Celery on Redis; unset: embedded mode
    redis_url: SecretStr | None = Field(None, validation_alias=_env("REDIS_URL", "redis_url"))
    config_path: str = Field("portalwatch.yaml", validation_alias=_env("PORTALWATCH_CONFIG", "config_path"))
    ops_token: SecretStr | None = Field(None, validation_alias=_env("PORTALWATCH_OPS_TOKEN", "ops_token"))
    # the probe location this process runs checks for (its Celery queue)
    location: str = Field("local", validation_alias=_env("PORTALWATCH_LOCATION", "location"))
    slack_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN", "slack_token"))
    slack_channel: str | None = Field(None, validation_alias=_env("SLACK_CHANNEL", "slack_channel"))
    # only to point slack-sdk at another Slack-compatible endpoint
    slack_api_url: str | None = Field(None, validation_alias=_env("SLACK_API_URL", "slack_api_url"))
    slack_timeout: float = Field(10.0, gt=0, le=120, validation_alias=_env("SLACK_TIMEOUT", "slack_timeout"))
    # Verifies that requests to POST /slack/interactivity (the Acknowledge button) come from Slack.
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    # Where the service keeps what is not in the database: on the embedded default, the letters' self-signed
    # signing key, the webhook signing secret and the session secret are made here at first start.
    data_dir: str | None = Field(None, validation_alias=_env("PORTALWATCH_DATA_DIR", "data_dir"))
    # The evidence store: large pieces of checks' evidence (screenshots), kept by SHA-256. Default
    # `<data dir>/evidence`; with several machines, a directory every worker and the web share.
    evidence_dir: str | None = Field(None, validation_alias=_env("PORTALWATCH_EVIDENCE_DIR", "evidence_dir"))
    # Where this host's processes keep their metrics for `GET /metrics` (prometheus_client's multiprocess
    # mode). Default `<data dir>/metrics`; every process of one host (web, scheduler, workers) shares it.
    metrics_dir: str | None = Field(
        None, validation_alias=_env("PORTALWATCH_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR", "metrics_dir")
    )
    # The letters' signing key and certificate: a PEM pair, or one PKCS#12 file (with its password).
    letters_key: str | None = Field(None, validation_alias=_env("LETTERS_SIGNING_KEY", "letters_key"))
    letters_cert: str | None = Field(None, validation_alias=_env("LETTERS_SIGNING_CERT", "letters_cert"))
    letters_pkcs12: str | None = Field(None, validation_alias=_env("LETTERS_SIGNING_PKCS12", "letters_pkcs12"))
    letters_password: SecretStr | None = Field(
        None, validation_alias=_env("LETTERS_SIGNING_PASSWORD", "letters_password")
    )
    # Notices to case holders: email over SMTP, webhooks signed per Standard Webhooks.
    smtp_url: SecretStr | None = Field(None, validation_alias=_env("SMTP_URL", "smtp_url"))
    smtp_from: str = Field("portalwatch@localhost", validation_alias=_env("NOTICES_FROM", "smtp_from"))
    webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("PORTALWATCH_WEBHOOK_SECRET", "webhook_secret")
    )
    notice_timeout: float = Field(10.0, gt=0, le=120, validation_alias=_env("NOTICE_TIMEOUT", "notice_timeout"))
    # How many reverse proxies in front of the web set X-Forwarded-For: the client address rate limits count by.
    trusted_proxies: int = Field(0, ge=0, le=5, validation_alias=_env("PORTALWATCH_TRUSTED_PROXIES", "trusted_proxies"))
    # Checks one process runs at once on its event loop; more wait their turn (and show as late).
    probe_concurrency: int = Field(
        1000, ge=1, le=20000, validation_alias=_env("PORTALWATCH_PROBE_CONCURRENCY", "probe_concurrency")
    )
    # Batches of checks a worker process handles at once: each waits for its slowest check, so a few
    # hung targets do not hold back the batches behind them.
    probe_batches: int = Field(8, ge=1, le=64, validation_alias=_env("PORTALWATCH_PROBE_BATCHES", "probe_batches"))
    # Signs session cookies and form tokens (CSRF); made and kept in data_dir when not set.
    secret_key: SecretStr | None = Field(None, validation_alias=_env("PORTALWATCH_SECRET_KEY", "secret_key"))

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object, info: ValidationInfo) -> object:
        # An exported-but-empty variable (`DATABASE_URL=`) means "not set", as it always has.
        if isinstance(value, str):
            value = value.strip() or None
        if value is None and info.field_name in _DEFAULTS:
            return _DEFAULTS[info.field_name]
        return value

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None

    @property
    def database(self) -> str:
        return self.database_url.get_secret_value()

    @property
    def redis(self) -> str | None:
        return None if self.redis_url is None else self.redis_url.get_secret_value()

    @property
    def data_path(self) -> Path:
        """`data_dir` if set; beside an SQLite file database (`<name>-data`); else `portalwatch-data` here."""
        if self.data_dir:
            return Path(self.data_dir)
        url = make_url(self.database)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            database = Path(url.database)
            return database.with_name(f"{database.stem}-data")
        return Path("portalwatch-data")

    @property
    def evidence_path(self) -> Path:
        """`evidence_dir` if set; else `evidence` in the data directory."""
        return Path(self.evidence_dir) if self.evidence_dir else self.data_path / "evidence"

    @property
    def metrics_path(self) -> Path:
        """`metrics_dir` if set; else `metrics` in the data directory (monitor.metrics.files has the same rule)."""
        return Path(self.metrics_dir) if self.metrics_dir else self.data_path / "metrics"

    @property
    def token(self) -> str | None:
        return None if self.ops_token is None else self.ops_token.get_secret_value()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """From this process's environment, or from `env` alone when given."""
        if env is None:
            return cls()
        return _Explicit.model_validate(dict(env))

    @classmethod
    def explicit(cls, **values: object) -> Settings:
        """Exactly these values and the defaults; the environment is not read (the demo, tests)."""
        return _Explicit(**values)  # type: ignore[arg-type]

    def ops_token_problem(self) -> str | None:
        """Why the ops token must not guard a real service, or None. Unset is fine: the ops API stays closed."""
        token = self.token
        if token is None:
            return None
        if token.lower() in _PLACEHOLDER_TOKENS:
            return (
                "PORTALWATCH_OPS_TOKEN is a placeholder from an example; set a random secret"
                " (e.g. `openssl rand -hex 32`)"
            )
        if len(token) < MIN_OPS_TOKEN_LENGTH:
            return (
                f"PORTALWATCH_OPS_TOKEN is {len(token)} characters; use at least {MIN_OPS_TOKEN_LENGTH} random"
                " characters (e.g. `openssl rand -hex 32`)"
            )
        return None


class _Explicit(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

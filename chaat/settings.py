"""Configuration: every knob comes from the environment or a `chaat serve` flag."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from chaat.limits import DEFAULT_RATES, LIMITS, Network, Rate

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

Registration = Literal["open", "invite", "closed"]
REGISTRATIONS: tuple[Registration, ...] = ("open", "invite", "closed")


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which."""


def _int(
    env: dict[str, str], name: str, default: int, *, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _database_url(env: dict[str, str]) -> str | None:
    url = env.get("DATABASE_URL") or None
    if url is not None and urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"DATABASE_URL must be a postgresql:// URL"
            f" (like postgresql://user@localhost:5432/chaat), got {url!r}"
        )
    return url


def _redis_url(env: dict[str, str]) -> str | None:
    url = env.get("CHAAT_REDIS_URL") or None
    if url is None:
        return None
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"CHAAT_REDIS_URL must be a redis://, rediss:// or unix:// URL"
            f" (like redis://localhost:6379/0), got {url!r}"
        )
    try:
        import redis  # noqa: F401
    except ImportError:
        raise ConfigError(
            "CHAAT_REDIS_URL needs the Redis client: pip install 'chaat[redis]'"
        ) from None
    return url


def _registration(env: dict[str, str]) -> Registration:
    value = env.get("CHAAT_REGISTRATION") or "open"
    for mode in REGISTRATIONS:
        if value == mode:
            return mode
    raise ConfigError(f"CHAAT_REGISTRATION must be open, invite or closed, got {value!r}")


def _rate_limits(env: dict[str, str]) -> dict[str, Rate] | None:
    switch = (env.get("CHAAT_RATE_LIMITS") or "on").strip().lower()
    if switch not in ("on", "off"):
        raise ConfigError(f"CHAAT_RATE_LIMITS must be on or off, got {switch!r}")
    rates = dict(DEFAULT_RATES)
    for name in LIMITS:
        variable = f"CHAAT_RATE_LIMIT_{name.upper()}"
        if env.get(variable):
            try:
                rates[name] = Rate.parse(env[variable])
            except ValueError as exc:
                raise ConfigError(f"{variable}: {exc}") from None
    return rates if switch == "on" else None


def _trusted_proxies(env: dict[str, str]) -> tuple[Network, ...]:
    networks = []
    for item in (env.get("CHAAT_TRUSTED_PROXIES") or "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    "CHAAT_TRUSTED_PROXIES must be addresses or networks separated by commas"
                    f" (like 127.0.0.1,10.0.0.0/8), got {item.strip()!r}"
                ) from None
    return tuple(networks)


def _log_level(env: dict[str, str], default: str) -> str:
    level = (env.get("CHAAT_LOG_LEVEL") or default).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(
            f"CHAAT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)},"
            f" got {env['CHAAT_LOG_LEVEL']!r}"
        )
    return level


def debug_from_env(env: dict[str, str] | None = None) -> bool:
    """CHAAT_DEBUG: show tracebacks with errors (1, true, yes or on)."""
    value = (os.environ if env is None else env).get("CHAAT_DEBUG", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
    """Where server processes share live events' wake-ups; without it, PostgreSQL's NOTIFY."""
    secret_key: str = field(default="", repr=False)
    data_dir: Path = Path("chaat-data")
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    token_ttl: int = 30 * 24 * 3600
    """Seconds a token stays valid."""
    max_group_size: int = 100
    registration: Registration = "open"
    """Who may sign up: anyone, whoever has an invite code, or no one."""
    event_retention: int = 7 * 24 * 3600
    """Seconds live events are kept for replay."""
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    """KiB; the argon2-cffi default (RFC 9106, low-memory profile)."""
    rate_limits: Mapping[str, Rate] | None = field(default_factory=lambda: dict(DEFAULT_RATES))
    """The rate of each limit in chaat.limits.LIMITS; None: no limits at all."""
    trusted_proxies: tuple[Network, ...] = ()
    """Reverse proxies whose X-Forwarded-For tells the client's address."""
    pool_size: int = 10
    head_timeout: int = 20
    """Seconds a connection may take to send a request head (from connecting, or from
    its last answer): a slowloris holds a socket this long, and idle ones close then.
    Longer than aiohttp's clients keep an idle connection (15 s): a client that reuses
    one just as the server closes it gets a dropped connection instead of an answer."""
    body_timeout: int = 30
    """Seconds a request body may take to arrive (408 after)."""
    log_level: str = "INFO"
    pg_user: str | None = None
    """The system user the embedded PostgreSQL runs as when chaat runs as root."""
    debug: bool = False
    """Show tracebacks with errors."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read every CHAAT_* variable (and DATABASE_URL); unset ones keep their defaults."""
        env = dict(os.environ if env is None else env)
        defaults = cls()
        return cls(
            database_url=_database_url(env),
            redis_url=_redis_url(env),
            secret_key=env.get("CHAAT_SECRET_KEY", ""),
            data_dir=Path(env.get("CHAAT_DATA_DIR") or defaults.data_dir),
            host=env.get("CHAAT_HOST") or defaults.host,
            port=_int(env, "CHAAT_PORT", defaults.port, maximum=65535),
            workers=_int(env, "CHAAT_WORKERS", defaults.workers),
            token_ttl=_int(env, "CHAAT_TOKEN_TTL", defaults.token_ttl),
            registration=_registration(env),
            max_group_size=_int(env, "CHAAT_MAX_GROUP_SIZE", defaults.max_group_size, minimum=2),
            event_retention=_int(env, "CHAAT_EVENT_RETENTION", defaults.event_retention),
            argon2_time_cost=_int(env, "CHAAT_ARGON2_TIME_COST", defaults.argon2_time_cost),
            argon2_memory_cost=_int(
                env, "CHAAT_ARGON2_MEMORY_COST", defaults.argon2_memory_cost, minimum=8
            ),
            rate_limits=_rate_limits(env),
            trusted_proxies=_trusted_proxies(env),
            pool_size=_int(env, "CHAAT_POOL_SIZE", defaults.pool_size),
            head_timeout=_int(env, "CHAAT_HEAD_TIMEOUT", defaults.head_timeout),
            body_timeout=_int(env, "CHAAT_BODY_TIMEOUT", defaults.body_timeout),
            log_level=_log_level(env, defaults.log_level),
            pg_user=env.get("CHAAT_PG_USER") or None,
            debug=debug_from_env(env),
        )

    def with_secret_key_from(self, data_dir: Path) -> Settings:
        """Keep the configured key, or load (creating once, mode 0600) data_dir/secret_key."""
        if self.secret_key:
            return self
        path = data_dir / "secret_key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two workers starting together cannot both write a key.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(48))
        key = path.read_text().strip()
        if not key:
            raise ConfigError(f"{path} is empty; delete it or set CHAAT_SECRET_KEY")
        return replace(self, secret_key=key)

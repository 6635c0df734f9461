"""Settings of a hub: built once, from command-line flags over `TRYVOHA_*` environment variables.

`Settings(...)` holds plain values (its defaults read nothing); `Settings.from_env(...)` is the one
place the environment is read. Every variable has a documented range (`VARIABLES`, shown by
`tryvoha serve --help` and docs/configuration.md); a value outside it stops the hub at start with
a message naming the variable, instead of serving with a setting nobody meant.

Each feature keeps its own section (`webhooks`, `compat`, `http`, `streams`), defined beside the
code that uses it, so its knobs are documented where they act.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tryvoha.alerts.approval import ApprovalPolicy
from tryvoha.channels.streams.config import StreamConfig
from tryvoha.channels.webhooks.config import MAX_PER_TOKEN_RANGE, WebhookConfig
from tryvoha.compat.config import CompatConfig
from tryvoha.netguard import parse_networks
from tryvoha.server.limits import RANGES as LIMIT_RANGES
from tryvoha.server.limits import Limits

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """A setting outside its range; the message names the variable and the range."""


def default_db() -> str:
    """Where the hub keeps its log unless told otherwise: the same file whatever the folder a
    command runs in, so every command finds the database the hub uses."""
    data = os.environ.get("XDG_DATA_HOME", "")  # a relative one is ignored, as XDG says
    base = Path(data) if os.path.isabs(data) else Path.home() / ".local" / "share"
    return str(base / "tryvoha" / "tryvoha.db")


@dataclass(frozen=True, slots=True)
class Settings:
    """`db` is a SQLAlchemy URL or a SQLite file; `read_token_required` closes public reads."""

    db: str = field(default_factory=default_db)
    host: str = "127.0.0.1"
    port: int = 8080
    read_token_required: bool = False
    load_history: bool = True
    max_body_bytes: int = 16 * 1024
    workers: int = 1
    """Processes serving live streams: the hub plus `workers - 1` stream followers."""
    mqtt: str | None = None
    """MQTT broker URL (e.g. mqtt://127.0.0.1:1883); MQTT is off when unset."""
    mqtt_prefix: str = "tryvoha"
    nats: str | None = None
    """NATS server(s) whose JetStream carries the log: the writer publishes it, edges follow it."""
    max_lag: float = 5.0
    """Seconds an edge may be behind the stream before its health says stale (503)."""
    keys: str | None = None
    """Signing key directory; beside a SQLite database by default (see tryvoha.signing.hub)."""
    hub_id: str | None = None
    cap_key: str | None = None
    cap_cert: str | None = None
    public_url: str | None = None
    """The hub's address as the world sees it, for links in CAP feeds."""
    signature_ttl: int = 300
    """Seconds a signed event stays fresh for its receivers."""
    receipts_keep: int = 1000
    """Events whose live delivery receipts are kept in memory (tryvoha.channels.receipts)."""
    map_tile_url: str | None = None
    map_tile_attribution: str | None = None
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    compat: CompatConfig = field(default_factory=CompatConfig)
    http: Limits = field(default_factory=Limits)
    streams: StreamConfig = field(default_factory=StreamConfig)
    approvals: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    """Which actual declarations wait for a second operator (docs/operators.md)."""

    @property
    def db_url(self) -> str:
        if "://" in self.db:
            return self.db
        return f"sqlite:///{Path(self.db).expanduser().resolve()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `environ` (the process environment by default), then `overrides` (the
        command line; a `None` override means "not given"). Raises `SettingsError`."""
        environ = os.environ if environ is None else environ
        top: dict[str, Any] = {}
        sections: dict[str, dict[str, Any]] = {}
        for var in VARIABLES:
            if var.kind == "policy":
                continue  # read with its section's own words, below
            text = environ.get(var.name)
            if text is None or not text.strip():
                continue
            value = var.parse(text.strip())
            section, _, name = var.target.rpartition(".")
            (sections.setdefault(section, {}) if section else top)[name] = value
        try:
            top["approvals"] = ApprovalPolicy.from_env(environ)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        top.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**top)
        try:
            changed = {
                name: replace(getattr(settings, name), **values)
                for name, values in sections.items()
            }
        except ValueError as exc:  # a section's own cross-field rule
            raise SettingsError(str(exc)) from None
        return replace(settings, **changed)


# The environment ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variable:
    """One `TRYVOHA_*` variable: where its value goes, how it is read, and its range in words."""

    name: str
    target: str
    """A field of `Settings`, or `section.field`."""
    kind: str
    """int, float, bool, text, url, networks, prefix, or policy (read by its section)."""
    low: float | None = None
    high: float | None = None
    help: str = ""

    @property
    def range(self) -> str:
        if self.kind == "bool":
            return "1/true/yes/on or 0/false/no/off"
        if self.low is not None:
            return f"{self.low:g} to {self.high:g}"
        return {
            "text": "text",
            "url": "a URL",
            "networks": "addresses or CIDR ranges, comma-separated (at most 100)",
            "prefix": "a path such as /aiu, or empty",
            "nats": "nats:// or tls:// URLs, comma-separated (at most 16)",
            "policy": self.help,
        }[self.kind]

    def parse(self, text: str) -> Any:
        return PARSERS[self.kind](self, text)


def _number(var: Variable, text: str, kind: Callable[[str], float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise SettingsError(f"{var.name}: {text!r} is not a number ({var.range})") from None
    if var.low is not None and var.high is not None and not var.low <= value <= var.high:
        raise SettingsError(f"{var.name}: {text!r} is outside its range, {var.range}")
    return value


def _bool(var: Variable, text: str) -> bool:
    lowered = text.lower()
    if lowered not in TRUE | FALSE:
        raise SettingsError(f"{var.name}: {text!r} is not one of {var.range}")
    return lowered in TRUE


def _prefix(var: Variable, text: str) -> str:
    value = text.rstrip("/")
    return "" if not value else "/" + value.lstrip("/")


def _networks(var: Variable, text: str) -> Any:
    try:
        return parse_networks(text, var.name)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _text(var: Variable, text: str) -> str:
    if len(text) > 2000 or any(ord(c) < 32 for c in text):
        raise SettingsError(f"{var.name}: at most 2000 characters, no control characters")
    return text


def _nats(var: Variable, text: str) -> str:
    try:
        return ",".join(nats_servers(text))
    except ValueError as exc:
        raise SettingsError(f"{var.name}: {exc}") from None


def nats_servers(text: str) -> list[str]:
    """The servers of a `--nats` value: nats:// or tls:// URLs with a host, comma-separated."""
    servers = [part.strip() for part in text.split(",") if part.strip()]
    if not 1 <= len(servers) <= 16:
        raise ValueError(f"{text!r}: give 1 to 16 nats:// URLs, comma-separated")
    for server in servers:
        scheme, sep, rest = server.partition("://")
        host = rest.split("@")[-1].split("/")[0]
        if not sep or scheme not in ("nats", "tls") or not host or len(server) > 500:
            raise ValueError(f"{server!r} is not a NATS URL such as nats://127.0.0.1:4222")
    return servers


PARSERS: dict[str, Callable[[Variable, str], Any]] = {
    "int": lambda var, text: int(_number(var, text, int)),
    "float": lambda var, text: _number(var, text, float),
    "bool": _bool,
    "text": _text,
    "url": _text,
    "networks": _networks,
    "prefix": _prefix,
    "nats": _nats,
}

V = Variable
VARIABLES: tuple[Variable, ...] = (
    V("TRYVOHA_DB", "db", "text", help="SQLite file or database URL"),
    V("TRYVOHA_HOST", "host", "text", help="address to listen on"),
    V("TRYVOHA_PORT", "port", "int", 1, 65535, "port to listen on"),
    V("TRYVOHA_READ_TOKEN_REQUIRED", "read_token_required", "bool", help="tokens for reads too"),
    V("TRYVOHA_LOAD_HISTORY", "load_history", "bool", help="load the bundled record at first"),
    V("TRYVOHA_WORKERS", "workers", "int", 1, 64, "processes serving live streams"),
    V("TRYVOHA_MQTT", "mqtt", "url", help="MQTT broker, e.g. mqtt://127.0.0.1:1883"),
    V("TRYVOHA_MQTT_PREFIX", "mqtt_prefix", "text", help="first level of every MQTT topic"),
    V("TRYVOHA_NATS", "nats", "nats", help="NATS with JetStream, e.g. nats://127.0.0.1:4222"),
    V("TRYVOHA_MAX_LAG", "max_lag", "float", 0.1, 3600, "seconds behind before an edge is stale"),
    V("TRYVOHA_KEYS", "keys", "text", help="signing key directory"),
    V("TRYVOHA_HUB_ID", "hub_id", "text", help="the hub's name in signatures and CAP"),
    V("TRYVOHA_CAP_KEY", "cap_key", "text", help="key file that signs CAP"),
    V("TRYVOHA_CAP_CERT", "cap_cert", "text", help="certificate of the CAP key"),
    V("TRYVOHA_PUBLIC_URL", "public_url", "url", help="the hub's address for links"),
    V("TRYVOHA_SIGNATURE_TTL", "signature_ttl", "int", 10, 86_400, "seconds a signature is fresh"),
    V("TRYVOHA_RECEIPTS_KEEP", "receipts_keep", "int", 100, 100_000, "events with receipts kept"),
    V("TRYVOHA_MAP_TILE_URL", "map_tile_url", "url", help="background tiles for the map"),
    V("TRYVOHA_MAP_TILE_ATTRIBUTION", "map_tile_attribution", "text", help="the tiles' credit"),
    V("TRYVOHA_WEBHOOK_BACKOFF_BASE", "webhooks.backoff_base", "float", 0.01, 3600, "first retry"),
    V("TRYVOHA_WEBHOOK_BACKOFF_MAX", "webhooks.backoff_max", "float", 0.01, 86_400, "retry cap"),
    V("TRYVOHA_WEBHOOK_GIVE_UP_AFTER", "webhooks.give_up_after", "float", 1, 30 * 86_400, "retry"),
    V("TRYVOHA_WEBHOOK_TIMEOUT", "webhooks.timeout", "float", 0.1, 120, "one attempt's deadline"),
    V("TRYVOHA_WEBHOOK_ALLOW_NETWORKS", "webhooks.allow_networks", "networks", help="private nets"),
    V("TRYVOHA_WEBHOOK_MAX_PER_TOKEN", "webhooks.max_per_token", "int", *MAX_PER_TOKEN_RANGE),
    V("TRYVOHA_COMPAT_PREFIX", "compat.prefix", "prefix", help="path of the alerts.in.ua API"),
    V("TRYVOHA_COMPAT_AIU_PER_MIN", "compat.aiu_per_minute", "int", 0, 100_000, "0 = no limit"),
    V("TRYVOHA_COMPAT_AIU_HISTORY_PER_MIN", "compat.aiu_history_per_minute", "int", 0, 100_000),
    V("TRYVOHA_COMPAT_UA_PER_MIN", "compat.ua_per_minute", "int", 0, 100_000, "0 = no limit"),
    V("TRYVOHA_COMPAT_KEYLESS", "compat.keyless", "bool", help="ukrainealarm without a key"),
    V("TRYVOHA_COMPAT_KEYLESS_PER_5MIN", "compat.keyless_per_5min", "int", 0, 100_000),
    V("TRYVOHA_COMPAT_WEBHOOK_DELIVERY", "compat.webhook_delivery", "bool", help="/api/v3 hooks"),
    V("TRYVOHA_APPROVAL_THREATS", "approvals.threats", "policy", help="threats, or none"),
    V("TRYVOHA_APPROVAL_MAX_OBLASTS", "approvals.max_oblasts", "policy", help="1 to 26"),
    V("TRYVOHA_APPROVAL_LEVELS", "approvals.levels", "policy", help="oblast, raion, hromada"),
    V("TRYVOHA_APPROVAL_TTL", "approvals.ttl", "policy", help="30 to 3600 seconds"),
    *(
        V(name, f"http.{target}", "int" if target.startswith("max_") else "float", low, high)
        for target, (name, low, high) in LIMIT_RANGES.items()
    ),
)
"""Every variable the hub reads, in the order docs/configuration.md lists them."""

_TARGETS = {f.name for f in fields(Settings)}
assert all(v.target.partition(".")[0] in _TARGETS for v in VARIABLES)

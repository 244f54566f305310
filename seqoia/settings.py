"""Settings: the one place where seqoia reads its environment (prefix ``SEQOIA_``).

Built at the edge (CLI callback, worker start-up) and passed down; nothing deeper reads
the environment. Every field is documented because the README's configuration table is
generated from these descriptions (``seqoia config``).
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from seqoia.vocabulary import DEFAULT_CENTRES

#: What the fair share's first level shares a queue between: the centres, or the runs.
ShareBetween = Literal["centres", "runs"]


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _default_scratch_dir() -> Path:
    """This user's own cache folder; a per-user name in the temporary folder without one.

    Never a shared, predictable ``/tmp/seqoia-scratch``: another user could create it
    first and plant files (a reference) there. The runner refuses a scratch folder it
    does not own or that others can reach.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or (
        str(Path.home() / ".cache") if os.environ.get("HOME") else ""
    )
    if cache:
        existing = Path(cache)
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if os.access(existing, os.W_OK):
            return Path(cache) / "seqoia" / "scratch"
    # No usable home (a container's nobody): a per-user name, checked for ownership.
    return Path(tempfile.gettempdir()) / f"seqoia-scratch-{os.getuid()}"


class Settings(BaseSettings):
    """Everything an operator can configure, with embedded defaults for a laptop."""

    model_config = SettingsConfigDict(env_prefix="SEQOIA_", extra="ignore", frozen=True)

    store_url: str = Field(
        "file://seqoia-data",
        description="Object store: file://PATH (local folder) or "
        "s3://BUCKET[/prefix]?endpoint_url=http://host:9000",
    )
    broker_url: str = Field(
        "memory://", description="Message broker: memory:// (in-process), redis://, amqp://"
    )
    inbox_area: str = Field("inbox", description="Key prefix where sequencers drop run folders")
    work_area: str = Field("work", description="Key prefix of stage outputs and manifests")
    outbox_area: str = Field("outbox", description="Key prefix of per-centre deliveries")
    refs_area: str = Field("refs", description="Key prefix of reference genomes")
    scratch_dir: Path = Field(
        default_factory=_default_scratch_dir,
        description="Local folder for stage inputs, outputs and the reference cache; "
        "private to this user (0700), refused otherwise (default: ~/.cache/seqoia/scratch)",
    )
    worker_processes: int = Field(1, ge=1, description="Worker processes per `seqoia worker`")
    worker_threads: int = Field(
        2, ge=1, description="Concurrent stages per worker process (each stage is a child process)"
    )
    fair_share: bool = Field(
        True,
        description="Share routine work between centres when a worker takes it (Redis); "
        "off: first come, first served",
    )
    fair_share_floor: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Redis: a centre is held back only above its equal share of a queue's "
        "taken work or this fraction of it, whichever is larger; below it centres go first "
        "come, first served (0.5: a burst takes at most half while others wait, and a "
        "centre with little work does not overtake one with much). 0: equal shares, where "
        "a quiet centre's cases pass a busy one's (docs/decisions.md, 'A floor to the share')",
    )
    fair_share_between: ShareBetween = Field(
        "centres",
        description="Redis: what routine work is shared between: the prescribing centres "
        "(then, within one, its smaller runs first), or the sequencing runs (every run an "
        "equal share whatever its centres; within a run first come, first served)",
    )
    thread_slots: bool = Field(
        False,
        description="Redis: a worker fetches long-stage messages only into its free threads, "
        "so a busy worker holds no urgent message behind its stage (seqoia.workers.slots); "
        "off by default: the urgent genome behind a burst gains, a bursting centre's later "
        "runs lose (bench/README.md, thread slots)",
    )
    stage_threads: int = Field(
        0, ge=0, description="Threads a stage's tools may use (0 = all cores of the machine)"
    )
    stage_time_limit_s: float = Field(
        12 * 3600.0, gt=0, description="Default time limit of one stage attempt"
    )
    max_retries: int = Field(5, ge=0, description="Retries of a transient stage failure")
    retry_min_backoff_s: float = Field(15.0, gt=0, description="First retry delay")
    retry_max_backoff_s: float = Field(1800.0, gt=0, description="Longest retry delay")
    worker_poll_ms: int = Field(
        1000,
        ge=5,
        le=10_000,
        description="Longest wait of an idle worker between two looks at a queue. On Redis "
        "a sent message wakes the consumers of its queue at once (seqoia.workers.wakeup), so "
        "this only bounds the delay when a wake-up is lost; each look costs Redis a command",
    )
    heartbeat_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Redis: a worker silent this long is dead and its messages come back",
    )
    lease_ttl_s: float = Field(
        120.0,
        gt=0,
        description="A running stage renews its lease every third of this; a dead "
        "worker's stage is taken over once it expires",
    )
    store_check_valid_s: float = Field(
        300.0,
        ge=0,
        description="A worker starting within this long of a passing store self-check on "
        "the same store skips its probes (bucket versioning is re-read); 0 checks always",
    )
    rtacomplete_grace_s: float = Field(
        600.0,
        ge=0,
        description="Wait after RTAComplete.txt for runs without CopyComplete.txt",
    )
    incomplete_run_age_s: float = Field(
        24 * 3600.0, gt=0, description="A run folder incomplete for longer is reported as stuck"
    )
    reconcile_interval_s: float = Field(
        300.0, gt=0, description="Period of the reconciling scan in `seqoia up`/`reconcile`"
    )
    reconcile_resend_s: float = Field(
        3600.0,
        ge=0,
        description="A long-lived reconciler sends a due stage again only this long after "
        "it last sent it (a backlog would otherwise grow by its own size every pass)",
    )
    # -- event intake (seqoia intake / up): authentication, TLS and limits ------------
    intake_host: str = Field(
        "127.0.0.1",
        description="Bind address of the event webhook (loopback unless set, also in the image)",
    )
    intake_port: int = Field(8470, ge=0, le=65535, description="Port of the event webhook")
    intake_token: str | None = Field(
        None,
        description="Shared token (16+ characters) events must carry as `Authorization: "
        "Bearer TOKEN` or as the HTTP Basic password (http://seqoia:TOKEN@host/events)",
    )
    intake_token_file: Path | None = Field(
        None,
        description="File holding the intake token (a mounted secret); `seqoia up` writes "
        "a random one there when no token is set",
    )
    intake_sns_topic_arns: str = Field(
        "",
        description="Comma-separated SNS topic ARNs whose signed messages are accepted "
        "without the token (enables SNS signature checks)",
    )
    intake_sns_allow_signature_v1: bool = Field(
        False, description="Also accept SNS SignatureVersion 1 (SHA1) signatures"
    )
    intake_sns_replay_window_s: float = Field(
        3600.0, gt=0, description="Refuse SNS messages whose Timestamp is further from now"
    )
    intake_buckets: str = Field(
        "",
        description="Comma-separated buckets whose events are accepted (default: the S3 "
        "store's bucket, or the local store folder's name)",
    )
    intake_tls_cert_file: Path | None = Field(
        None, description="PEM certificate chain: serve the webhook over HTTPS"
    )
    intake_tls_key_file: Path | None = Field(
        None, description="PEM private key of intake_tls_cert_file"
    )
    intake_max_body_bytes: int = Field(1 << 20, ge=1, description="Largest notification body")
    intake_max_records: int = Field(100, ge=1, description="Most records in one notification")
    intake_threads: int = Field(8, ge=1, description="Connection threads of the webhook")
    intake_request_timeout_s: float = Field(
        10.0, gt=0, description="Time a request (headers and body) may take to arrive"
    )
    metrics_host: str = Field("127.0.0.1", description="Bind address of /metrics")
    metrics_port: int = Field(9470, ge=0, le=65535, description="Port of /metrics")
    metrics_dir: Path | None = Field(
        None,
        description="Folder of the Prometheus multiprocess files, emptied at start "
        "(default: a private temporary folder)",
    )
    log_json: bool = Field(False, description="Log JSON lines (with stage, subject, attempt)")
    reference: str = Field(
        "demo", description="Reference genome name under the refs area (refs/NAME/genome.fa)"
    )
    worker_id: str = Field(
        default_factory=_default_worker_id, description="Name of this worker in manifests"
    )

    # -- security (issue 12): data at rest and what is accepted -----------------------
    file_mode: str = Field(
        "0600",
        description="Mode of patient files in a local store (0600, or 0640/0660 to share "
        "with the service's group); folders follow (0700/0750/0770)",
    )
    allowed_centres: str = Field(
        ",".join(DEFAULT_CENTRES),
        description="Comma-separated centres a sample sheet's Centre column may name; "
        "checked at validate_run",
    )

    @field_validator("file_mode")
    @classmethod
    def _file_mode(cls, value: str) -> str:
        from seqoia.storage.permissions import parse_file_mode

        return f"{parse_file_mode(value):04o}"

    @property
    def file_mode_bits(self) -> int:
        return int(self.file_mode, 8)

    @property
    def centres(self) -> frozenset[str]:
        return frozenset(c.strip() for c in self.allowed_centres.split(",") if c.strip())

    @field_validator("inbox_area", "work_area", "outbox_area", "refs_area")
    @classmethod
    def _one_segment(cls, value: str) -> str:
        from seqoia.vocabulary import validate_name

        return validate_name(value, "area name")


def load_settings(**overrides: object) -> Settings:
    """Read the environment once, with explicit overrides (e.g. from CLI options) winning."""
    return Settings.model_validate({k: v for k, v in overrides.items() if v is not None})

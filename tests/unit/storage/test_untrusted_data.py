"""What the store hands back is data, not authority (issue 12, items 10, 13, 14).

A forged manifest must not name a local path outside scratch; files of the local store are
private to the service's user; URLs are shown without their passwords.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from seqoia.errors import ConfigurationError, FormatError, InvalidKeyError
from seqoia.redact import RedactingFilter, redact_text, redact_url
from seqoia.storage import LocalStore
from seqoia.storage.layout import Layout
from seqoia.storage.manifest import FileRef, Manifest, ManifestStore, public_source, utcnow
from seqoia.storage.permissions import parse_file_mode, private_folder
from seqoia.vocabulary import is_source_alias, source_alias, validate_relative_path


def manifest_json(**changes: object) -> bytes:
    base = Manifest(
        stage="align",
        stage_version="1",
        subject="S01",
        subject_kind="sample",
        fingerprint="f" * 64,
        generation=1,
        attempt="20261202T000000-0000000001",
        outputs=[FileRef(name="S01.bam", key="work/align/S01/a/S01.bam", size=3)],
        started_at=utcnow(),
        finished_at=utcnow(),
        worker="unit",
    ).model_dump(mode="json")
    for path, value in changes.items():
        target = base
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]  # type: ignore[index]
        target[last] = value  # type: ignore[index]
    return json.dumps(base).encode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outputs.0.name", "../../../../home/user/.bashrc"),
        ("outputs.0.name", "/etc/cron.d/x"),
        ("outputs.0.name", "a//b"),
        ("outputs.0.key", "work/../../x"),
        ("outputs.0.subject", "../S02"),
        ("stage", "../align"),
        ("subject", "S01/../../x"),
        ("attempt", "a/../../b"),
    ],
)
def test_a_forged_manifest_field_is_refused_when_read_back(
    tmp_path: Path, field: str, value: str
) -> None:
    store = LocalStore(tmp_path / "store")
    layout = Layout()
    key = layout.manifest_key("align", "S01", 1)
    store.put_bytes(key, manifest_json(**{field: value}))
    with pytest.raises(InvalidKeyError) as caught:
        ManifestStore(store, layout).get(key)
    assert key in str(caught.value)


def test_an_honest_manifest_reads_back() -> None:
    manifest = Manifest.model_validate_json(manifest_json())
    assert manifest.output("S01.bam").size == 3


@pytest.mark.parametrize("name", ["", ".", "a/./b", "a/..", "..", "a\\b", "a\nb", "/a"])
def test_relative_paths_that_could_leave_a_folder_are_refused(name: str) -> None:
    with pytest.raises(InvalidKeyError):
        validate_relative_path(name)


def test_fastq_sources_are_recorded_under_an_alias_that_names_no_one() -> None:
    name = "Alignment_1/Fastq/DUPONT_Marie_S1_L001_R1_001.fastq.gz"
    ref = FileRef(name=name, key=f"inbox/R1/{name}", size=10, etag="e")
    public = public_source(ref)
    assert "DUPONT" not in public.name and "DUPONT" not in public.key
    assert public.name.startswith("Alignment_1/Fastq/fastq-")
    assert public.name.endswith("_S1_L001_R1_001.fastq.gz")
    assert public.key == f"inbox/R1/{public.name}" and public.size == 10
    assert is_source_alias(public.name) and public_source(public) == public
    assert source_alias(name) != source_alias(name.replace("R1", "R2"))
    sheet = FileRef(name="SampleSheet.csv", key="inbox/R1/SampleSheet.csv", size=1)
    assert public_source(sheet) == sheet


# -- item 13: modes ------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_local_store_files_are_0600_and_folders_0700_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)  # the most permissive umask: the store must not rely on it
    try:
        store = LocalStore(tmp_path / "store")
        store.put_bytes("outbox/APHP/S01/S01.vcf.gz", b"x")
        store.put_bytes("work/m.json", b"{}", if_none_match=True)
        local = tmp_path / "up.txt"
        local.write_text("y")
        store.upload_file("work/align/S01/up.txt", local)
        store.download_file("work/m.json", tmp_path / "down" / "deep" / "m.json")
    finally:
        os.umask(old)
    root = tmp_path / "store"
    for path in ("outbox/APHP/S01/S01.vcf.gz", "work/m.json", "work/align/S01/up.txt"):
        assert mode(root / path) == 0o600, path
    for path in ("", "outbox", "outbox/APHP", "outbox/APHP/S01", "work/align/S01"):
        assert mode(root / path) == 0o700, path
    assert mode(tmp_path / "down" / "deep" / "m.json") == 0o600
    assert mode(tmp_path / "down" / "deep") == 0o700


def test_a_group_mode_is_applied_exactly(tmp_path: Path) -> None:
    old = os.umask(0o077)  # a strict umask must not take the chosen group bits away
    try:
        store = LocalStore(tmp_path / "store", file_mode=0o640)
        store.put_bytes("outbox/APHP/S01/report.json", b"{}")
    finally:
        os.umask(old)
    assert mode(tmp_path / "store/outbox/APHP/S01/report.json") == 0o640
    assert mode(tmp_path / "store/outbox/APHP") == 0o750


@pytest.mark.parametrize("value", ["0644", "0666", "0700", "0755", "rw", "0o777"])
def test_file_modes_that_let_others_read_are_refused(value: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_file_mode(value)
    assert parse_file_mode("0640") == 0o640 and parse_file_mode("600") == 0o600


def test_a_private_folder_is_refused_when_others_can_reach_it(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ConfigurationError, match="0777"):
        private_folder(shared)
    fresh = private_folder(tmp_path / "a" / "b")
    assert mode(fresh) == 0o700 and mode(tmp_path / "a") == 0o700


def test_a_private_folder_is_refused_when_it_belongs_to_someone_else(tmp_path: Path) -> None:
    if os.getuid() == 0:
        planted = tmp_path / "planted"
        planted.mkdir(mode=0o700)
        os.chown(planted, 65534, 65534)  # nobody: another user made it first
        other = 65534
    else:
        planted, other = Path("/usr"), os.stat("/usr").st_uid  # root's, not ours
    with pytest.raises(ConfigurationError, match=f"belongs to uid {other}"):
        private_folder(planted)


def test_a_symlink_is_not_a_private_folder(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(ConfigurationError, match="not a folder"):
        private_folder(tmp_path / "link")


# -- item 14: redaction --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cr3t@redis:6379/0",
        "amqp://seqoia:s3cr3t@rabbitmq:5672/%2F",
        "rediss://default:s3cr3t@redis.example:6380",
        "s3://bucket?endpoint_url=https://minio:9000&token=s3cr3t",
    ],
)
def test_urls_are_shown_without_their_secrets(url: str) -> None:
    shown = redact_url(url)
    assert "s3cr3t" not in shown and "***" in shown
    assert "s3cr3t" not in redact_text(f"cannot connect to {url}: refused")


def test_the_log_filter_redacts_urls_logged_by_any_library(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("some.library")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("connecting to %s", "amqp://u:s3cr3t@host:5672")
    assert "s3cr3t" not in caplog.text and "amqp://u:***@host:5672" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        manifest_json()[:-40],  # truncated
        manifest_json().replace(b'"generation": 1', b'"generation": "one"'),
        manifest_json().replace(b'"worker": "unit"', b'"wrker": "unit"'),  # field missing
        b"\xff\xfe" + manifest_json(),
        b"[]",
        b"[" * 100_000,  # nesting past any parser's recursion limit
    ],
    ids=["truncated", "wrong-type", "missing-field", "not-utf8", "not-an-object", "nested"],
)
def test_a_corrupt_manifest_is_refused_naming_its_key(tmp_path: Path, body: bytes) -> None:
    # Found by bench/fuzz.py's ``manifest`` kind: pydantic's ValidationError escaped.
    store = LocalStore(tmp_path / "store")
    layout = Layout()
    key = layout.manifest_key("align", "S01", 1)
    store.put_bytes(key, body)
    with pytest.raises(FormatError, match="not a valid manifest") as caught:
        ManifestStore(store, layout).get(key)
    assert caught.value.file == key

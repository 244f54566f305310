"""The worker's scratch folder and reference cache under attack (issue 12, items 10-12).

Each test reproduces a proof of concept from the security review on a local-folder
store and the toy pipeline: a forged manifest naming ``../..`` outputs, a planted
symlink, a stage request pointing outside its attempt, a shared scratch folder, and a
reference planted in the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from seqoia.engine.child import check_request_paths
from seqoia.engine.refcache import cached_reference
from seqoia.engine.runner import StageRunner
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.engine.scratch import path_inside
from seqoia.errors import ConfigurationError, InvalidKeyError, StorageError
from seqoia.settings import Settings
from seqoia.storage.manifest import FileRef

PIPELINE = "tests.pipelines.toy:pipeline"


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    settings = Settings(
        store_url=f"file://{tmp_path / 'store'}", scratch_dir=tmp_path / "scratch", worker_id="unit"
    )
    return build_runtime(settings, PIPELINE)


def test_a_forged_upstream_manifest_cannot_make_a_stage_write_outside_scratch(
    rt: Runtime, tmp_path: Path
) -> None:
    rt.store.put_bytes("inbox/R1/samples.tsv", b"S1\t-\tone\n")
    rt.store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    runner = StageRunner(rt)
    assert runner.execute("ingest", "R1").kind == "committed"
    # The proof of concept: a second generation of ingest, written straight into the
    # store, whose output name climbs out of the attempt's scratch folder.
    honest = json.loads(rt.store.get_bytes(rt.layout.manifest_key("ingest", "R1", 1))[0])
    forged = honest | {"generation": 2}
    forged["outputs"] = [
        honest["outputs"][0] | {"name": "../../../../../../escaped/pwned.txt", "subject": None}
    ]
    rt.store.put_bytes(rt.layout.manifest_key("ingest", "R1", 2), json.dumps(forged).encode())

    with pytest.raises(InvalidKeyError, match="ingest/R1/g000002"):
        runner.execute("process", "S1")
    assert not list(tmp_path.rglob("escaped")), "a folder was created outside scratch"
    assert rt.manifests.latest("process", "S1") is None


def test_path_inside_refuses_climbing_names_and_planted_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    root.mkdir()
    assert path_inside(root, "in", "align", "S1", "a/b.txt") == root / "in/align/S1/a/b.txt"
    for name in ("../x", "a/../../x", "/etc/passwd", "a//b"):
        with pytest.raises(InvalidKeyError):
            path_inside(root, "in", name)
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")  # planted by someone with access
    with pytest.raises(InvalidKeyError, match="outside the scratch folder"):
        path_inside(root, "link", "x.txt")


def test_a_stage_request_pointing_outside_its_attempt_is_refused(tmp_path: Path) -> None:
    attempt = tmp_path / "attempts" / "A1"
    request = {
        "out_dir": str(attempt / "out"),
        "scratch": str(attempt / "tmp"),
        "source_dir": None,
        "inputs": {"ingest": [{"files": {"S1.txt": str(attempt / "in/ingest/R1/S1.txt")}}]},
    }
    check_request_paths(request, attempt)
    for field, value in (("out_dir", str(tmp_path / "elsewhere")), ("scratch", "/tmp")):
        with pytest.raises(InvalidKeyError):
            check_request_paths(request | {field: value}, attempt)
    climbing = {"ingest": [{"files": {"x": str(attempt / "in/../../../../x")}}]}
    with pytest.raises(InvalidKeyError):
        check_request_paths(request | {"inputs": climbing}, attempt)


def test_the_default_scratch_folder_is_per_user_not_shared() -> None:
    default = Settings().scratch_dir
    assert default != Path(os.environ.get("TMPDIR", "/tmp")) / "seqoia-scratch"
    assert str(os.getuid()) in str(default) or str(default).startswith(str(Path.home()))


def test_a_runner_refuses_a_scratch_folder_others_can_reach(tmp_path: Path) -> None:
    shared = tmp_path / "seqoia-scratch"
    shared.mkdir()
    shared.chmod(0o1777)  # as a folder made in /tmp by anyone
    settings = Settings(store_url=f"file://{tmp_path / 'store'}", scratch_dir=shared)
    with pytest.raises(ConfigurationError, match="scratch folder"):
        StageRunner(build_runtime(settings, PIPELINE))


def test_a_runner_makes_its_scratch_folder_private(rt: Runtime) -> None:
    runner = StageRunner(rt)
    assert stat.S_IMODE(os.stat(runner.scratch_root).st_mode) == 0o700


def test_a_reference_planted_in_the_cache_is_replaced_by_the_stores(
    rt: Runtime, tmp_path: Path
) -> None:
    genuine = b">chr1\nACGTACGTACGT\n"
    key = rt.layout.reference_key("demo")
    info = rt.store.put_bytes(key, genuine)
    ref = FileRef(name="genome.fa", key=key, size=len(genuine), etag=info)
    cache = tmp_path / "scratch" / "cache"
    local = cached_reference(rt.store, ref, cache)
    assert local.read_bytes() == genuine
    assert (local.parent / "genome.fa.sha256").exists()
    # The proof of concept: someone replaces the cached FASTA (and even its checksum file).
    local.write_bytes(b">chr1\nTTTTTTTTTTTT\n")
    assert cached_reference(rt.store, ref, cache).read_bytes() == genuine
    local.write_bytes(b">chr1\nGGGGGGGGGGGG\n")
    (local.parent / "genome.fa.sha256").write_text("0" * 64)
    assert cached_reference(rt.store, ref, cache).read_bytes() == genuine
    # Planted with a matching checksum file: this process remembers what it downloaded.
    planted = b">chr1\nCCCCCCCCCCCC\n"
    local.write_bytes(planted)
    (local.parent / "genome.fa.sha256").write_text(hashlib.sha256(planted).hexdigest())
    assert cached_reference(rt.store, ref, cache).read_bytes() == genuine


def test_a_reference_that_does_not_match_the_stores_etag_fails(rt: Runtime, tmp_path: Path) -> None:
    key = rt.layout.reference_key("demo")
    rt.store.put_bytes(key, b">chr1\nACGT\n")
    wrong = FileRef(name="genome.fa", key=key, size=11, etag="0" * 32)
    with pytest.raises(StorageError, match="MD5"):
        cached_reference(rt.store, wrong, tmp_path / "scratch" / "cache")

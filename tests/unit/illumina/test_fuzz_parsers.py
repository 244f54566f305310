"""Seeded fuzzing of the Illumina parsers at a small size (``bench/fuzz.py`` runs the large
one): every mutated sample sheet, RunInfo.xml, RunParameters.xml, BCL, CBCL, filter and
locs file is either accepted or refused with an InputError, never anything else."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bench.fuzz import discover, run_cases
from bench.fuzz import main as fuzz_main
from bench.fuzz_illumina import KINDS
from bench.fuzzing import FuzzKind, case_bytes, mutate
from seqoia.errors import InputError
from tests.fuzz_checks import check_mutants

CASES_PER_KIND = 200


@pytest.mark.parametrize("name", sorted(KINDS))
def test_mutated_inputs_are_accepted_or_refused_cleanly(name: str) -> None:
    # A kind that may refuse nothing (validate's output) has no clean side.
    check_mutants(name, KINDS[name], CASES_PER_KIND, refuses=bool(KINDS[name].clean))


def test_cases_are_reproducible_from_their_number() -> None:
    kind = KINDS["runinfo"]

    assert case_bytes("runinfo", kind, 77) == case_bytes("runinfo", kind, 77)
    assert case_bytes("runinfo", kind, 77) != case_bytes("runinfo", kind, 78)
    assert case_bytes("runinfo", kind, 77, base_seed=1) != case_bytes("runinfo", kind, 77)
    assert case_bytes("runinfo", kind, 0) == kind.seeds[0]


def test_discover_finds_every_fuzz_module_kind() -> None:
    kinds = discover()

    assert set(KINDS) <= set(kinds)
    assert all(isinstance(k, FuzzKind) and k.seeds for k in kinds.values())


def _misbehave(data: bytes) -> None:
    what = data.decode()
    if what == "hang":
        while True:
            pass
    if what == "blowup":
        bytearray(4 << 30)
    if what == "crash":
        raise KeyError("not a clean error")
    if what == "die":
        os.kill(os.getpid(), signal.SIGKILL)  # as a native crash would end it, quietly
    if what == "clean":
        raise InputError("refused", file="x", line=1)


def test_fuzz_runner_tells_hangs_blowups_crashes_and_dead_workers_apart() -> None:
    seeds = [b"ok", b"clean", b"crash", b"hang", b"blowup", b"die"]
    kinds = {"misbehaving": FuzzKind(seeds, _misbehave, (InputError,))}

    tallies = run_cases(kinds, len(seeds), time_limit_s=1.0, memory_mb=256, workers=2)

    tally = tallies["misbehaving"]
    assert tally.counts == {
        "accepted": 1, "clean": 1, "crash": 2, "hang": 1, "blowup": 1
    }  # fmt: skip
    assert sorted((i, r) for i, r, _ in tally.failures) == [
        (2, "crash"), (3, "hang"), (4, "blowup"), (5, "crash")
    ]  # fmt: skip


def test_mutate_is_deterministic_per_rng_seed() -> None:
    import random

    data = b"[Data]\nSample_ID,Lane,index\nS1,1,ACGT\n"

    assert mutate(data, random.Random(5)) == mutate(data, random.Random(5))
    assert len({mutate(data, random.Random(n)) for n in range(50)}) > 40


def test_a_new_fuzz_module_is_discovered_by_its_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "benchcopy"
    folder.mkdir()
    (folder / "fuzz_extra.py").write_text(
        "KINDS = {'extra': ([b'x'], lambda data: None, (ValueError,))}\n"
    )
    (folder / "fuzzing_helpers.py").write_text("KINDS = {'not_a_kind_module': None}\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    kinds = discover(folder)

    assert list(kinds) == ["extra"]
    assert kinds["extra"].seeds == [b"x"] and kinds["extra"].clean == (ValueError,)


def test_fuzz_command_prints_counts_and_exits_zero_without_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert fuzz_main(["--cases", "30", "--kinds", "runinfo,cbcl"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["kind", "cases", "accepted"]
    assert any(line.split()[:2] == ["total", "60"] for line in out.splitlines())

"""A short chaos run (bench/chaos.py) on Ceph RGW + Redis: faults change nothing delivered.

Three samples of the ``once`` pipeline, once without faults and once with workers and
stage processes killed, Redis and RGW restarted, S3 errors, resets and stalls from the
fault proxy, and duplicated, reordered and dropped notifications. Checked on RGW itself.
"""

from __future__ import annotations

from pathlib import Path

from bench.chaos import chaos_run, compare
from tests.fixtures.ceph import CephRGW


def test_a_short_chaos_run_delivers_every_sample_once_with_the_bytes_of_a_clean_run(
    rgw_server: CephRGW, tmp_path: Path
) -> None:
    clean = chaos_run(rgw_server, tmp_path / "clean", samples=3, stage_s=0.5, faults=False)
    assert clean.delivered == 3 and clean.digests
    faulty = chaos_run(
        rgw_server,
        tmp_path / "faulty",
        samples=3,
        stage_s=1.0,
        seed=7,
        s3_fault_rate=0.05,
        fault_every_s=3.0,
        fault_window_s=30.0,
        timeout_s=100,
    )
    compare(clean.digests, faulty)
    summary = (
        f"faults {dict(faulty.faults)}, takeovers {faulty.takeovers_s}, "
        f"clean {clean.seconds:.0f} s, faulty {faulty.seconds:.0f} s"
    )
    assert sum(faulty.faults.values()) >= 10, summary
    assert faulty.delivered == 3, summary
    assert faulty.double_commits == 0, summary
    assert faulty.orphans_after_gc == 0, summary
    assert faulty.byte_differences == 0, summary
    assert faulty.not_taken_over == 0, summary
    # lease time (6 s) plus 10 s, the bound, for every kill of a worker or a stage
    assert all(t <= 6.0 + 10.0 for ts in faulty.takeovers_s.values() for t in ts), summary

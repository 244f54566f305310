"""RTAComplete.txt routing: one delayed grace message per run, however many events."""

from __future__ import annotations

from pathlib import Path

from seqoia.engine.router import Router
from seqoia.engine.runtime import build_runtime
from seqoia.settings import Settings


def test_repeated_rtacomplete_events_schedule_one_grace_message(tmp_path: Path) -> None:
    settings = Settings(
        store_url=f"file://{tmp_path}/store",
        scratch_dir=tmp_path / "scratch",
        rtacomplete_grace_s=600.0,
    )
    # The germline pipeline declares RTAComplete.txt as a marker that counts after a grace.
    runtime = build_runtime(settings, "seqoia.tasks.germline:pipeline")
    sent: list[tuple[str, str, str, float]] = []
    router = Router(runtime, lambda *message: sent.append(message))

    for _ in range(50):  # a flood, or SNS and MinIO retrying one event
        router.object_created("inbox/RUN1/RTAComplete.txt")
    router.object_created("inbox/RUN2/RTAComplete.txt")

    roots = [stage.name for stage in runtime.pipeline.roots()]
    delayed = [(stage, run) for stage, run, _, delay_s in sent if delay_s]
    assert delayed == [(stage, "RUN1") for stage in roots] + [(stage, "RUN2") for stage in roots]
    # Every event still nudges at once: immediate messages are cheap and plan first.
    assert sum(1 for *_, delay_s in sent if not delay_s) == 51 * len(roots)

"""The fair share's Redis message ids: ``centre|run|samples|uuid``, from untrusted names."""

from __future__ import annotations

from seqoia.workers.fairness import (
    CENTRE_OPTION,
    ID_SEPARATOR,
    RUN_OPTION,
    RUN_SAMPLES_OPTION,
    share_group,
    tagged_id,
)


def test_a_name_holding_the_id_separator_is_not_put_in_a_message_id() -> None:
    """Centre and run come from records read back from the store: untrusted."""
    assert share_group({CENTRE_OPTION: "APHP", RUN_OPTION: "R1"}) == "APHP|R1"
    assert share_group({CENTRE_OPTION: "APHP"}) == "APHP"
    assert share_group({CENTRE_OPTION: "APHP", RUN_OPTION: "R|1"}) == "APHP"
    assert share_group({CENTRE_OPTION: "AP|HP", RUN_OPTION: "R1"}) is None
    assert share_group({RUN_OPTION: "R1"}) is None


def test_only_a_run_s_count_of_samples_is_put_in_a_message_id() -> None:
    run = {CENTRE_OPTION: "APHP", RUN_OPTION: "R1"}
    assert share_group({**run, RUN_SAMPLES_OPTION: 24}) == "APHP|R1|24"
    for not_a_count in ("24", 24.0, True, 0, -3, 100_001, None):
        assert share_group({**run, RUN_SAMPLES_OPTION: not_a_count}) == "APHP|R1"
    assert share_group({CENTRE_OPTION: "APHP", RUN_SAMPLES_OPTION: 24}) == "APHP"


def test_a_tagged_id_starts_with_its_group_and_is_fresh() -> None:
    first, second = tagged_id("APHP|R1"), tagged_id("APHP|R1")
    assert first.startswith(f"APHP{ID_SEPARATOR}R1{ID_SEPARATOR}") and first != second

"""The fair share's Redis message ids: ``centre|run|uuid``, from untrusted names."""

from __future__ import annotations

from seqoia.workers.fairness import CENTRE_OPTION, ID_SEPARATOR, RUN_OPTION, share_group, tagged_id


def test_a_name_holding_the_id_separator_is_not_put_in_a_message_id() -> None:
    """Centre and run come from records read back from the store: untrusted."""
    assert share_group({CENTRE_OPTION: "APHP", RUN_OPTION: "R1"}) == "APHP|R1"
    assert share_group({CENTRE_OPTION: "APHP"}) == "APHP"
    assert share_group({CENTRE_OPTION: "APHP", RUN_OPTION: "R|1"}) == "APHP"
    assert share_group({CENTRE_OPTION: "AP|HP", RUN_OPTION: "R1"}) is None
    assert share_group({RUN_OPTION: "R1"}) is None


def test_a_tagged_id_starts_with_its_group_and_is_fresh() -> None:
    first, second = tagged_id("APHP|R1"), tagged_id("APHP|R1")
    assert first.startswith(f"APHP{ID_SEPARATOR}R1{ID_SEPARATOR}") and first != second

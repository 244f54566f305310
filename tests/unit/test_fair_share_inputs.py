"""What the fair share takes in: names read back from the store, put in its Redis ids
(``centre|run|uuid``), and the operator's centre weights."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from seqoia.settings import Settings
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


def test_centre_weights_are_parsed_and_anything_else_is_refused_naming_the_item() -> None:
    allowed = {"allowed_centres": "APHP,CURIE"}
    assert Settings(centre_weights=" APHP=2, CURIE=0.5 ", **allowed).weights == {
        "APHP": 2.0,
        "CURIE": 0.5,
    }
    assert Settings(**allowed).weights == {}
    for bad, says in [
        ("APHP", "'APHP' is not CENTRE=NUMBER"),
        ("APHP=0", "'APHP=0' is not CENTRE=NUMBER"),
        ("APHP=nan", "'APHP=nan'"),
        ("APHP=inf", "'APHP=inf'"),
        ("=2", "'=2'"),
        ("APHP=1,APHP=2", "'APHP' is weighted twice"),
        ("APHP=2,CUIRE=1", "names CUIRE, not in allowed_centres"),  # a typo is not weight 1
    ]:
        with pytest.raises(ValidationError, match=says):
            Settings(centre_weights=bad, **allowed)

"""The fair share's settings reach the middleware, and a wrong one stops a worker's start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from seqoia.settings import Settings
from seqoia.workers.broker import fair_share


def settings(tmp_path: Path, **fields: Any) -> Settings:
    return Settings(
        store_url=f"file://{tmp_path / 'store'}", scratch_dir=tmp_path / "scratch", **fields
    )


def test_the_share_is_between_centres_with_a_floor_of_half_unless_told(tmp_path: Path) -> None:
    share = fair_share(settings(tmp_path))
    assert (share.between, share.floor) == ("centres", 0.5)
    share = fair_share(settings(tmp_path, fair_share_between="runs", fair_share_floor=0.0))
    assert (share.between, share.floor) == ("runs", 0.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("fair_share_between", "patients"), ("fair_share_floor", 1.5), ("fair_share_floor", -0.1)],
)
def test_a_wrong_fair_share_setting_is_refused_by_name(
    tmp_path: Path, field: str, value: object
) -> None:
    with pytest.raises(ValidationError, match=field):
        settings(tmp_path, **{field: value})

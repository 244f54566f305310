"""The demo's results table folds long QC reasons and report paths instead of cutting them."""

from __future__ import annotations

import pytest
from rich.console import Console

from seqoia.commands.demo import results_table

PATH = "outbox/GUSTAVE-ROUSSY/DEMO-003/g000001/DEMO-003.clinical.pdf"
REASONS = "FAIL: mean_coverage, pct_20x, het_hom_ratio"


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_results_table_keeps_every_character_of_paths_and_reasons(columns: int) -> None:
    table = results_table("seqoia demo — run 261129_A00123_0042_AHDEMOXXXX")
    table.add_row("DEMO-003", "GUSTAVE-ROUSSY", REASONS, "0.997 / 1.000", "1.000 / 0.993",
                  "GENE3 NM_DEMO3.1:c.29G>A p.(Trp10Ter)", PATH)  # fmt: skip
    console = Console(width=columns, record=True, file=None, color_system=None)
    with console.capture() as captured:
        console.print(table)
    text = captured.get()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= columns
    body = [line for line in text.splitlines() if line.startswith("│")]
    last_cells = "".join(line.split("│")[-2].strip() for line in body)
    assert last_cells == PATH
    qc_cells = "".join(line.split("│")[3] for line in body)
    assert qc_cells.replace(" ", "") == REASONS.replace(" ", "")  # folded, nothing dropped
    assert [line.split("│")[1].strip() for line in body][0] == "DEMO-003"  # the id whole

"""The demo's pair: FASTQ beside the germline samples' and two rows added to their sheet."""

from __future__ import annotations

from pathlib import Path

from seqoia.commands.demo_pair import NORMAL, PAIR, TUMOUR, add_demo_pair
from seqoia.genomics.simulate import simulate_reference
from seqoia.illumina.pairs import sheet_pairs
from seqoia.illumina.samplesheet import read_sample_sheet


def test_the_demo_pair_joins_the_run_sheet_with_pair_id_and_roles(tmp_path: Path) -> None:
    reference = tmp_path / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 60_000, "chr2": 40_000}, seed=3)
    run = tmp_path / "RUN"
    fastq = run / "Analysis/1/Data/fastq"
    fastq.mkdir(parents=True)
    (fastq / "DEMO-001_S1_L001_R1_001.fastq.gz").write_bytes(b"")
    (run / "SampleSheet.csv").write_text(
        "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\n"
        "Lane,Sample_ID,Index,Index2,Centre,Sex\n1,DEMO-001,TTTTTTTT,TTTTTTTT,APHP,female\n"
    )
    truth = add_demo_pair(run, reference, tmp_path / "scratch", first_number=2)
    assert 30 <= len(truth.somatic) <= 40
    assert {s.vaf for s in truth.somatic} == {0.4, 0.3, 0.2}
    assert [e.kind for e in truth.copy_events] == ["gain", "loss"]
    names = sorted(p.name for p in fastq.iterdir())
    assert f"{TUMOUR}_S2_L001_R1_001.fastq.gz" in names
    assert f"{NORMAL}_S3_L001_R2_001.fastq.gz" in names
    sheet = read_sample_sheet(run / "SampleSheet.csv")
    rows = {row.sample_id: row for row in sheet.samples}
    assert (rows["DEMO-001"].pair, rows["DEMO-001"].sex) == (None, "female")
    assert (rows[TUMOUR].pair, rows[TUMOUR].role, rows[TUMOUR].centre) == (PAIR, "tumour", "CURIE")
    assert (rows[NORMAL].pair, rows[NORMAL].role) == (PAIR, "normal")
    assert list(sheet_pairs(sheet.samples)) == [PAIR]

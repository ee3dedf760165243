"""Patient identifiers never reach what the command line prints or writes."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures.cli import run_cli
from fixtures.dicom_series import Identity, write_ct_series, zip_folder

SECRETS = ("Doe^Jane", "PAT-90210-XYZ", "19700101", "St Example Hospital", "SECRET-PRIVATE")
IDENTITY = Identity(
    patient_name=SECRETS[0],
    patient_id=SECRETS[1],
    birth_date=SECRETS[2],
    institution=SECRETS[3],
    private_text=SECRETS[4],
)


def _assert_clean(blob: bytes | str, where: str) -> None:
    data = blob.encode() if isinstance(blob, str) else blob
    for secret in SECRETS:
        assert secret.encode() not in data, f"{secret!r} leaked into {where}"


def test_inspect_and_convert_of_a_dicom_series_leak_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "ct"
    write_ct_series(folder, n=5, identity=IDENTITY, rows=16, columns=16)
    archive = zip_folder(folder, tmp_path / "ct.zip")
    for source in (folder, archive):
        report = run_cli("--debug", "inspect", str(source), "--json")
        assert report.returncode == 0, report.stderr
        _assert_clean(report.stdout + report.stderr, f"inspect {source.name}")
        removed = json.loads(report.stdout)["removed_identifiers"]
        assert {"PatientName", "PatientID", "PatientBirthDate", "InstitutionName"} <= set(removed)

        text = run_cli("inspect", str(source))
        assert "identifying fields removed: " in text.stdout
        _assert_clean(text.stdout + text.stderr, f"inspect text {source.name}")

        out = tmp_path / f"{source.stem}.glb"
        converted = run_cli("--debug", "convert", str(source), "-o", str(out), "--json", "--iso", "-900")
        assert converted.returncode == 0, converted.stderr
        _assert_clean(converted.stdout + converted.stderr, f"convert {source.name}")
        _assert_clean(out.read_bytes(), out.name)

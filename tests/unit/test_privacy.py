"""No patient identifier survives reading: not in the scene, its repr, the logs or error messages.

A CT series carries made-up identifiers (name, ID, birth date, institution, UIDs, a private tag)
and is read from a folder and from a zip whose member paths hold the patient's name too.
"""

from __future__ import annotations

import logging
import pickle
import traceback
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from fixtures.dicom_series import Identity, ct_slice, write_ct_series

import vizserver.io.readers  # noqa: F401  (registers every reader)
from vizserver.errors import UnreadableFileError
from vizserver.io import read
from vizserver.io.deidentify import DICOM_IDENTIFYING, free_text_fields, strip_dicom
from vizserver.model import Scene, Volume

SERIES_UID = "1.2.826.0.1.3680043.8.498.4242424242"
SECRETS = (
    "Doe^Jane", "Doe", "PAT-90210-XYZ", "19700101", "St Example Hospital", "SECRET-PRIVATE",
    SERIES_UID, "1.2.826.0.1.3680043.8.498.77", "REF-PHYS-SMITH", "SERIAL-555-777",
)
IDENTITY = Identity(
    patient_name="Doe^Jane", patient_id="PAT-90210-XYZ", birth_date="19700101",
    institution="St Example Hospital", private_text="SECRET-PRIVATE",
    extra={"ReferringPhysicianName": "REF-PHYS-SMITH", "DeviceSerialNumber": "SERIAL-555-777",
           "OtherPatientIDs": "PAT-90210-XYZ", "PatientAddress": "1 Doe Street"},
)


def _series_folder(root: Path) -> Path:
    write_ct_series(root / "series", n=4, identity=IDENTITY, series_uid=SERIES_UID)
    return root / "series"


def _series_zip(root: Path, folder: Path) -> Path:
    """The series zipped under member paths that hold the patient's name."""
    target = root / "upload.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for index, path in enumerate(sorted(folder.iterdir())):
            zf.write(path, f"Doe^Jane_PAT-90210-XYZ/{index:03d}_Doe^Jane.dcm")
    return target


def _assert_clean(text: str | bytes, where: str) -> None:
    for secret in SECRETS:
        needle = secret.encode() if isinstance(text, bytes) else secret
        assert needle not in text, f"{secret!r} leaked into {where}"


def _assert_scene_clean(scene: Scene) -> None:
    _assert_clean(pickle.dumps(scene), "the pickled scene")
    _assert_clean(repr(scene), "the scene's repr")
    volume = scene.objects[0].data
    assert isinstance(volume, Volume)
    for name in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "InstitutionName",
                 "SeriesInstanceUID", "SOPInstanceUID", "StudyInstanceUID", "ReferringPhysicianName",
                 "DeviceSerialNumber", "PatientAddress", "OtherPatientIDs", "StudyDate", "PrivateTags"):
        assert name in volume.removed_identifiers
    assert scene.removed_identifiers == volume.removed_identifiers
    assert all(n.isidentifier() for n in scene.removed_identifiers)  # names only, never values


def test_dicom_folder_and_zip_leak_no_identifier(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _series_folder(tmp_path)
    archive = _series_zip(tmp_path, folder)
    caplog.clear()  # pydicom may log while the test writes the files
    caplog.set_level(logging.DEBUG)
    from_folder = read(folder)
    from_zip = read(archive)
    for scene in (from_folder, from_zip):
        _assert_scene_clean(scene)
    assert from_zip.title == "upload" and from_folder.title == "series"
    np.testing.assert_array_equal(from_zip.objects[0].data.values, from_folder.objects[0].data.values)  # type: ignore[union-attr]
    assert caplog.records, "the reader logs what it read"
    _assert_clean(caplog.text, "the logs")
    _assert_clean("\n".join(str(r.args) for r in caplog.records), "log record arguments")


def test_values_pydicom_would_warn_about_are_not_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A malformed value in a kept element would make pydicom quote it; the reader keeps pydicom quiet."""
    folder = tmp_path / "odd"
    write_ct_series(folder, n=2, identity=IDENTITY, series_uid=SERIES_UID)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns (quoting the value) while the test writes it
        for path in folder.iterdir():
            ds = pydicom.dcmread(path)
            ds.SeriesInstanceUID = "Doe^Jane-not-a-uid"
            ds.Modality = "Doe^Jane"
            ds.save_as(path)
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    with _no_escaping_warnings():
        scene = read(folder)
    _assert_scene_clean(scene)
    assert scene.objects[0].name == "DICOM series"  # a modality that is not a code is not shown
    _assert_clean(caplog.text, "the logs")


@contextmanager
def _no_escaping_warnings() -> Iterator[None]:
    """Fails if a warning that quotes an identifier escapes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    _assert_clean("\n".join(str(w.message) for w in caught), "warnings")


def test_errors_about_a_bad_slice_name_no_patient(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _series_folder(tmp_path)
    odd = folder / "odd.dcm"
    ct_slice(9, rows=7, position=(0.0, 0.0, 99.0), identity=IDENTITY, series_uid=SERIES_UID).save_as(
        odd, enforce_file_format=True
    )
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnreadableFileError, match=r"^series: slices differ in size") as info:
        read(folder)
    _assert_clean(str(info.value), "the error message")
    odd.unlink()
    truncated = sorted(folder.iterdir())[1]
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(
        UnreadableFileError, match=r"^upload\.zip: member #2 pixel data \(.*\) is corrupt or truncated$"
    ) as info:
        read(_series_zip(tmp_path, folder))
    _assert_clean(str(info.value), "the error message")
    _assert_clean("".join(traceback.format_exception(info.value)), "the traceback")
    _assert_clean(caplog.text, "the logs")


def test_nifti_free_text_is_dropped_and_named(tmp_path: Path) -> None:
    image = nib.Nifti1Image(np.arange(27, dtype=np.int16).reshape(3, 3, 3) - 5, np.eye(4))
    image.header["descrip"] = b"Patient Doe^Jane"
    image.header["aux_file"] = b"PAT-90210-XYZ"
    image.header["intent_name"] = b"St Example Hos"
    nib.save(image, tmp_path / "scan.nii.gz")
    scene = read(tmp_path / "scan.nii.gz")
    assert scene.removed_identifiers == ("descrip", "aux_file", "intent_name")
    _assert_clean(pickle.dumps(scene), "the pickled NIfTI scene")


def test_strip_dicom_keeps_only_pixels_and_geometry() -> None:
    ds = ct_slice(0, identity=IDENTITY, series_uid=SERIES_UID)
    removed = strip_dicom(ds)
    assert {"PatientName", "PatientID", "InstitutionName", "PrivateTags", "SOPInstanceUID"} <= set(removed)
    assert "MediaStorageSOPInstanceUID" in removed
    kept = {elem.keyword for elem in ds}
    assert kept <= {"Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated",
                    "BitsStored", "HighBit", "PixelRepresentation", "PixelData", "ImagePositionPatient",
                    "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "RescaleSlope",
                    "RescaleIntercept", "Modality"}
    _assert_clean(repr(ds), "the stripped dataset")


def test_identifying_keywords_are_real_dicom_keywords() -> None:
    from pydicom.datadict import tag_for_keyword

    unknown = sorted(k for k in DICOM_IDENTIFYING if tag_for_keyword(k) is None)
    assert not unknown


def test_free_text_field_names_are_reported_safely() -> None:
    names = free_text_fields(["type", "sizes", "content", "PatientName", "Doe^Jane: 1970"], ["type", "sizes"])
    assert names == ("PatientName", "content", "unnamed field")

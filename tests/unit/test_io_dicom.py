"""DICOM series (folder, zip, single file) through ``vizserver.io.read``, and the defensive zip reader."""

from __future__ import annotations

import logging
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fixtures.dicom_series import ct_slice, write_ct_series, zip_folder
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, generate_uid

import vizserver.io.readers  # noqa: F401  (registers every reader)
from vizserver.errors import LimitExceededError, UnreadableFileError
from vizserver.io import archive, read
from vizserver.model import Volume


def _volume(path: Path) -> Volume:
    scene = read(path)
    data = scene.objects[0].data
    assert isinstance(data, Volume)
    return data


def _expected_raw(n: int, rows: int = 6, columns: int = 5) -> np.ndarray:
    i, j, k = np.meshgrid(np.arange(columns), np.arange(rows), np.arange(n), indexing="ij")
    return 100 * k + 10 * j + i


# --- reading series ----------------------------------------------------------------------------


def test_folder_series_is_stacked_in_position_order_with_hu_and_lps_geometry(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "chest", n=4, gap=2.5)
    (tmp_path / "chest" / "README.txt").write_text("not dicom")
    scene = read(tmp_path / "chest")
    volume = scene.objects[0].data
    assert isinstance(volume, Volume)
    assert scene.title == "chest"
    assert scene.objects[0].name == "CT series"
    assert volume.shape == (5, 6, 4)
    np.testing.assert_array_equal(volume.values, _expected_raw(4) - 1024)
    assert volume.values.dtype == np.int16
    assert volume.unit == "HU"
    assert volume.kind == "intensity"
    assert volume.spacing == pytest.approx((0.6, 0.8, 2.5))
    assert volume.origin == pytest.approx((-10.0, 20.0, 30.0))
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-12)


def test_oblique_series_keeps_its_axes(tmp_path: Path) -> None:
    c, s = np.cos(0.3), np.sin(0.3)
    orientation = (c, s, 0.0, 0.0, 0.0, -1.0)  # coronal-ish, rotated about z
    write_ct_series(tmp_path / "obl", n=3, gap=1.5, orientation=orientation, origin=(5.0, 6.0, 7.0))
    volume = _volume(tmp_path / "obl")
    normal = np.cross(orientation[:3], orientation[3:])
    np.testing.assert_allclose(volume.direction[:, 0], orientation[:3], atol=1e-9)
    np.testing.assert_allclose(volume.direction[:, 1], orientation[3:], atol=1e-9)
    np.testing.assert_allclose(volume.direction[:, 2], normal, atol=1e-9)
    assert volume.spacing[2] == pytest.approx(1.5)
    assert volume.origin == pytest.approx((5.0, 6.0, 7.0))
    # the far corner lands where the last slice's last pixel is
    far = np.asarray(volume.origin) + volume.direction @ ((np.array(volume.shape) - 1) * volume.spacing)
    expected = np.array([5.0, 6.0, 7.0]) + 4 * 0.6 * np.array(orientation[:3]) + 5 * 0.8 * np.array(
        orientation[3:]) + 2 * 1.5 * normal
    np.testing.assert_allclose(far, expected, atol=1e-9)


def test_zip_of_a_series_matches_the_folder_and_skips_non_images(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "src"
    write_ct_series(folder, n=3)
    (folder / "notes.txt").write_text("hello")
    dicomdir = Dataset()
    dicomdir.file_meta = FileMetaDataset()
    dicomdir.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    dicomdir.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dicomdir.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dicomdir.FileSetID = "SET"
    dicomdir.save_as(folder / "DICOMDIR", enforce_file_format=True)
    caplog.set_level(logging.INFO)
    zipped = _volume(zip_folder(folder, tmp_path / "scan.zip"))
    np.testing.assert_array_equal(zipped.values, _volume(folder).values)
    assert "skipped 1 non-DICOM files and 1 DICOM files without an image" in caplog.text


def test_single_file_reads_its_series_and_ignores_other_series_beside_it(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "d", n=3)
    write_ct_series(tmp_path / "d", n=5, series_uid="1.2.3.999", names=[f"other{k}.dcm" for k in range(5)])
    scene = read(paths[0])
    volume = scene.objects[0].data
    assert isinstance(volume, Volume)
    assert scene.title == paths[0].stem
    assert volume.shape == (5, 6, 3)


def test_the_largest_series_of_a_folder_is_read(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "study" / "a", n=2, series_uid="1.2.3.1")
    write_ct_series(tmp_path / "study" / "b", n=5, series_uid="1.2.3.2")
    assert _volume(tmp_path / "study").shape == (5, 6, 5)


def test_fractional_rescale_gives_float_values(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "pet", n=2, slope=0.5, intercept=1.25)
    volume = _volume(tmp_path / "pet")
    assert volume.values.dtype == np.float32
    np.testing.assert_allclose(volume.values, _expected_raw(2) * 0.5 + 1.25)


# --- bad series --------------------------------------------------------------------------------


def test_slices_of_different_sizes_are_refused(tmp_path: Path) -> None:
    write_ct_series(tmp_path / "mixed", n=3)
    ct_slice(9, rows=7, position=(-10.0, 20.0, 40.0)).save_as(tmp_path / "mixed" / "odd.dcm", enforce_file_format=True)
    with pytest.raises(UnreadableFileError, match=r"^mixed: slices differ in size"):
        read(tmp_path / "mixed")


def test_missing_slice_and_duplicate_positions_are_refused(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "gap", n=5)
    paths[2].unlink()
    with pytest.raises(UnreadableFileError, match="slice gaps vary"):
        read(tmp_path / "gap")
    write_ct_series(tmp_path / "dup", n=3)
    write_ct_series(tmp_path / "dup", n=3, names=["e2a.dcm", "e2b.dcm", "e2c.dcm"])
    with pytest.raises(UnreadableFileError, match="share a position"):
        read(tmp_path / "dup")


def test_compressed_pixels_without_a_decoder_name_the_transfer_syntax(tmp_path: Path) -> None:
    ds = ct_slice(0)
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8 not really jpeg-ls \xff\xd9"])
    ds["PixelData"].VR = "OB"
    (tmp_path / "c").mkdir()
    ds.save_as(tmp_path / "c" / "x.dcm", enforce_file_format=True)
    with pytest.raises(UnreadableFileError, match=r"compressed as JPEG-LS Lossless.*1\.2\.840\.10008\.1\.2\.4\.80"):
        read(tmp_path / "c")


def test_folder_without_dicom_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("x" * 200)
    with pytest.raises(UnreadableFileError, match=r"^empty: no DICOM images found \(1 non-DICOM"):
        read(tmp_path / "empty")


def test_folder_with_too_many_files_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_ct_series(tmp_path / "many", n=4)
    monkeypatch.setenv("VIZSERVER_MAX_ARCHIVE_MEMBERS", "3")
    with pytest.raises(LimitExceededError, match="4 files is over the limit of 3"):
        read(tmp_path / "many")


def test_series_over_the_voxel_limit_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ct_series(tmp_path / "big", n=4)
    monkeypatch.setenv("VIZSERVER_MAX_POINTS", "100")
    with pytest.raises(LimitExceededError, match="120 voxels, over the limit of 100"):
        read(tmp_path / "big")


# --- hostile zips ------------------------------------------------------------------------------


def _write_zeros_member(path: Path, megabytes: int) -> None:
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.dcm", b"x" * 300)
        with zf.open("bomb.dcm", "w") as member:
            for _ in range(megabytes):
                member.write(zeros)


def _forge_declared_size(path: Path, member: str, size: int) -> None:
    """Rewrite the member's uncompressed size in its local and central headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    central = data.rfind(b"PK\x01\x02")
    while central >= 0:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46:central + 46 + name_length]) == member.encode():
            struct.pack_into("<I", data, central + 24, size)
            break
        central = data.rfind(b"PK\x01\x02", 0, central)
    path.write_bytes(bytes(data))


def test_zip_bomb_is_refused_from_its_declared_sizes(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    _write_zeros_member(bomb, 200)
    assert bomb.stat().st_size < 1 << 20
    start = time.perf_counter()
    with pytest.raises(LimitExceededError, match=r"^bomb\.zip: member #2 would inflate .* expansion limit"):
        read(bomb)
    assert time.perf_counter() - start < 5.0


def test_zip_bomb_with_forged_small_sizes_stops_inflating_early(tmp_path: Path) -> None:
    bomb = tmp_path / "forged.zip"
    _write_zeros_member(bomb, 200)
    _forge_declared_size(bomb, "bomb.dcm", 1000)
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceededError, match=r"member #2 inflates past its declared 1,000 bytes"):
            read(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # nowhere near the 200 MB the member really holds


@pytest.mark.parametrize("evil", ["../evil.dcm", "/abs/evil.dcm", "a/../../evil.dcm", "..\\evil.dcm", "C:/evil.dcm"])
def test_zip_member_paths_that_escape_are_refused(tmp_path: Path, evil: str) -> None:
    target = tmp_path / "evil.zip"
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr("ok.dcm", b"x" * 200)
        zf.writestr(evil, b"x" * 200)
    with pytest.raises(UnreadableFileError, match=r"member #2 has an unsafe path"):
        read(target)
    assert not (tmp_path.parent / "evil.dcm").exists()


def test_zip_with_too_many_members_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = zip_folder(write_ct_series(tmp_path / "s", n=4)[0].parent, tmp_path / "s.zip")
    monkeypatch.setenv("VIZSERVER_MAX_ARCHIVE_MEMBERS", "3")
    with pytest.raises(LimitExceededError, match="4 members is over the limit of 3"):
        read(target)


def test_zip_with_a_corrupt_member_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "crc.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.dcm", b"A" * 500)
    data = bytearray(target.read_bytes())
    data[data.index(b"A" * 500) + 10] = ord("B")
    target.write_bytes(bytes(data))
    with pytest.raises(UnreadableFileError, match="member #1 fails its CRC check"):
        read(target)


def test_zip_without_dicom_and_garbage_zip_are_clear_errors(tmp_path: Path) -> None:
    target = tmp_path / "docs.zip"
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr("readme.txt", b"hello" * 50)
    with pytest.raises(UnreadableFileError, match="no DICOM images found"):
        read(target)
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(UnreadableFileError, match=r"^garbage\.zip: "):
        read(garbage)
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(target.read_bytes()[:60])
    with pytest.raises(UnreadableFileError, match=r"^cut\.zip: "):
        read(truncated)


def test_extract_writes_members_under_the_destination_only(tmp_path: Path) -> None:
    target = tmp_path / "x.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("dir/a.bin", b"a" * 1000)
        zf.writestr("b.bin", b"b" * 10)
    (tmp_path / "out").mkdir()
    written = archive.extract(target, tmp_path / "out")
    assert sorted(p.relative_to((tmp_path / "out").resolve()).as_posix() for p in written) == ["b.bin", "dir/a.bin"]
    assert (tmp_path / "out" / "dir" / "a.bin").read_bytes() == b"a" * 1000
    listed = archive.members(target)
    assert [m.label for m in listed] == ["member #1", "member #2"]

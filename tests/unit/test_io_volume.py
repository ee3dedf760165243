"""NIfTI, NRRD and MetaImage volumes through ``vizserver.io.read``: geometry, kinds, hostile headers."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

import vizserver.io.readers  # noqa: F401  (registers every reader)
from vizserver.errors import InputError, LimitExceededError, UnreadableFileError
from vizserver.io import read
from vizserver.io.volume import classify, sniff_metaimage, sniff_nifti, sniff_nrrd
from vizserver.model import Volume

RAS_AFFINE = np.array([[2.0, 0, 0, 10], [0, 3.0, 0, 20], [0, 0, 4.0, 30], [0, 0, 0, 1]])


def _ramp(shape: tuple[int, ...] = (4, 5, 6), dtype: type = np.float32) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape).astype(dtype) * 3 - 7


def _volume(path: Path) -> Volume:
    data = read(path).objects[0].data
    assert isinstance(data, Volume)
    return data


# --- NIfTI -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_values_and_ras_affine_become_lps(tmp_path: Path, suffix: str) -> None:
    values = _ramp()
    nib.save(nib.Nifti1Image(values, RAS_AFFINE), tmp_path / f"head{suffix}")
    scene = read(tmp_path / f"head{suffix}")
    volume = scene.objects[0].data
    assert isinstance(volume, Volume)
    assert scene.title == "head" and scene.objects[0].name == "head"
    np.testing.assert_array_equal(volume.values, values)
    assert volume.kind == "intensity"
    assert volume.spacing == pytest.approx((2.0, 3.0, 4.0))
    assert volume.origin == pytest.approx((-10.0, -20.0, 30.0))
    np.testing.assert_array_equal(volume.direction, np.diag([-1.0, -1.0, 1.0]))


def test_nifti_in_metres_is_scaled_to_millimetres(tmp_path: Path) -> None:
    image = nib.Nifti1Image(_ramp(), np.diag([0.002, 0.002, 0.003, 1.0]))
    image.header.set_xyzt_units("meter")
    nib.save(image, tmp_path / "m.nii")
    assert _volume(tmp_path / "m.nii").spacing == pytest.approx((2.0, 2.0, 3.0))


def test_nifti_4d_reads_the_first_frame(tmp_path: Path) -> None:
    values = _ramp((3, 4, 5, 2))
    nib.save(nib.Nifti1Image(values, np.eye(4)), tmp_path / "cine.nii.gz")
    np.testing.assert_array_equal(_volume(tmp_path / "cine.nii.gz").values, values[..., 0])


def test_nifti_label_intent_float_map_becomes_integer_labels(tmp_path: Path) -> None:
    labels = np.zeros((6, 6, 6), dtype=np.float32)
    labels[1:3, 1:3, 1:3] = 1
    labels[3:5, 3:5, 3:5] = 7
    image = nib.Nifti1Image(labels, np.eye(4))
    image.header.set_intent("label")
    nib.save(image, tmp_path / "heart.nii.gz")
    volume = _volume(tmp_path / "heart.nii.gz")
    assert volume.kind == "labels"
    assert volume.values.dtype == np.uint8
    assert volume.labels.tolist() == [1, 7]


def test_label_rule_uses_dtype_distinct_values_and_name_hints() -> None:
    few = np.zeros((8, 8, 8), dtype=np.uint8)
    few[2:4] = 3
    assert classify(few, "heart")[0] == "labels"
    grey = (np.arange(512) % 200).astype(np.uint8).reshape(8, 8, 8)  # 200 grey levels
    assert classify(grey, "t1")[0] == "intensity"
    assert classify(grey, "brain_seg")[0] == "labels"
    ct = (np.arange(512) - 1024).astype(np.int16).reshape(8, 8, 8)
    assert classify(ct, "ct_mask")[0] == "intensity"  # negative values are never labels
    floats = few.astype(np.float32)
    assert classify(floats, "heart")[0] == "intensity"  # float needs a hint or intent
    kind, cast = classify(floats, "liver_label")
    assert kind == "labels" and cast.dtype == np.uint8
    assert classify(floats + 0.5, "liver_label")[0] == "intensity"
    many = (np.arange(512) % 300).astype(np.uint16).reshape(8, 8, 8)
    assert classify(many, "seg")[0] == "intensity"  # over 256 distinct values


def test_truncated_nifti_is_unreadable(tmp_path: Path) -> None:
    header = nib.Nifti1Header()
    header.set_data_shape((256, 256, 256))
    header.set_data_dtype(np.int16)
    path = tmp_path / "cut.nii"
    path.write_bytes(header.binaryblock + b"\x00" * 4 + b"\x01" * 1000)
    with pytest.raises(UnreadableFileError, match=r"^cut\.nii: truncated: header says 256x256x256 int16"):
        read(path)


def test_truncated_gzipped_nifti_is_unreadable(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.random.default_rng(1).normal(size=(32, 32, 32)).astype(np.float32), np.eye(4)),
             tmp_path / "full.nii.gz")
    data = (tmp_path / "full.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFileError, match=r"^cut\.nii\.gz: voxel data is truncated"):
        read(tmp_path / "cut.nii.gz")


def test_gzipped_nifti_claiming_more_than_its_bytes_can_inflate_to_is_refused_before_allocating(
    tmp_path: Path,
) -> None:
    header = nib.Nifti1Header()
    header.set_data_shape((400, 400, 400))  # under the voxel limit, but 256 MB from a few hundred bytes
    header.set_data_dtype(np.float32)
    path = tmp_path / "claims.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\x00" * 4 + b"\x00" * 4096))
    with pytest.raises(UnreadableFileError, match=r"^claims\.nii\.gz: truncated: header says 256,000,000 bytes"):
        read(path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_claiming_enormous_dimensions_is_refused_before_allocating(tmp_path: Path, suffix: str) -> None:
    header = nib.Nifti1Header()
    header.set_data_shape((30000, 30000, 30000))
    header.set_data_dtype(np.float64)
    blob = header.binaryblock + b"\x00" * 4 + b"\x00" * 64
    path = tmp_path / f"huge{suffix}"
    path.write_bytes(gzip.compress(blob) if suffix.endswith(".gz") else blob)
    with pytest.raises(LimitExceededError, match=r"claims 27,000,000,000,000 voxels"):
        read(path)


# --- NRRD --------------------------------------------------------------------------------------


def test_nrrd_gzip_in_ras_space_becomes_lps_and_drops_free_text(tmp_path: Path) -> None:
    values = _ramp(dtype=np.int16)
    header = {
        "space": "right-anterior-superior", "space directions": np.diag([2.0, 3.0, 4.0]),
        "space origin": [10.0, 20.0, 30.0], "content": "scan of someone", "PatientName": "x",
    }
    nrrd.write(str(tmp_path / "a.nrrd"), values, header, index_order="F")
    scene = read(tmp_path / "a.nrrd")
    volume = scene.objects[0].data
    assert isinstance(volume, Volume)
    np.testing.assert_array_equal(volume.values, values)
    assert volume.origin == pytest.approx((-10.0, -20.0, 30.0))
    np.testing.assert_array_equal(volume.direction, np.diag([-1.0, -1.0, 1.0]))
    assert volume.spacing == pytest.approx((2.0, 3.0, 4.0))
    assert scene.removed_identifiers == ("PatientName", "content") == volume.removed_identifiers


def test_detached_nhdr_reads_its_data_file(tmp_path: Path) -> None:
    values = _ramp(dtype=np.uint16)
    (tmp_path / "vol.raw").write_bytes(values.astype(">u2").tobytes(order="F"))
    (tmp_path / "vol.nhdr").write_text(
        "NRRD0004\ntype: unsigned short\ndimension: 3\nsizes: 4 5 6\nspacings: 0.5 0.5 2\n"
        "endian: big\nencoding: raw\ndata file: vol.raw\n"
    )
    volume = _volume(tmp_path / "vol.nhdr")
    np.testing.assert_array_equal(volume.values, values)
    assert volume.spacing == pytest.approx((0.5, 0.5, 2.0))


@pytest.mark.parametrize("data_file", ["../outside.raw", "/etc/passwd", "sub/../../outside.raw"])
def test_nhdr_data_file_outside_its_folder_is_refused(tmp_path: Path, data_file: str) -> None:
    (tmp_path / "outside.raw").write_bytes(b"\x00" * 8)
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "v.nhdr").write_text(
        f"NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: raw\ndata file: {data_file}\n"
    )
    with pytest.raises(UnreadableFileError, match=r"^v\.nhdr: data file lies outside the header's folder"):
        read(tmp_path / "h" / "v.nhdr")


def test_nrrd_vector_image_reads_the_first_component(tmp_path: Path) -> None:
    values = _ramp((3, 4, 5, 2))
    nrrd.write(str(tmp_path / "v.nrrd"), values, {"kinds": ["vector", "domain", "domain", "domain"]},
               index_order="F")
    np.testing.assert_array_equal(_volume(tmp_path / "v.nrrd").values, values[0])


def test_nrrd_gzip_data_is_inflated_no_further_than_the_header_implies(tmp_path: Path) -> None:
    path = tmp_path / "bomb.nrrd"
    payload = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = payload.compress(b"\x07" * 8 + bytes(100 << 20)) + payload.flush()
    path.write_bytes(b"NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 2 2\nencoding: gzip\n\n" + blob)
    np.testing.assert_array_equal(_volume(path).values, np.full((2, 2, 2), 7))


def test_nrrd_truncated_and_enormous_headers(tmp_path: Path) -> None:
    short = tmp_path / "short.nrrd"
    short.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 64 64 64\nencoding: raw\n\n" + b"\x00" * 100)
    with pytest.raises(UnreadableFileError, match=r"^short\.nrrd: voxel data is truncated"):
        read(short)
    huge = tmp_path / "huge.nrrd"
    huge.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 100000 100000 100000\nencoding: gzip\n\n")
    with pytest.raises(LimitExceededError, match=r"^huge\.nrrd: header claims"):
        read(huge)


# --- MetaImage ---------------------------------------------------------------------------------


def test_mha_geometry_comes_from_simpleitk(tmp_path: Path) -> None:
    values = _ramp(dtype=np.int16)
    image = sitk.GetImageFromArray(values.transpose(2, 1, 0))
    image.SetSpacing((2.0, 3.0, 4.0))
    image.SetOrigin((1.0, 2.0, 3.0))
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    image.SetDirection(rotation.ravel().tolist())
    sitk.WriteImage(image, str(tmp_path / "a.mha"), useCompression=True)
    volume = _volume(tmp_path / "a.mha")
    np.testing.assert_array_equal(volume.values, values)
    assert volume.spacing == pytest.approx((2.0, 3.0, 4.0))
    assert volume.origin == pytest.approx((1.0, 2.0, 3.0))
    np.testing.assert_allclose(volume.direction, rotation)


def _mhd(folder: Path, data_file: str, dims: str = "4 5 6", extra: str = "") -> Path:
    path = folder / "v.mhd"
    path.write_text(
        f"ObjectType = Image\nNDims = 3\nDimSize = {dims}\nElementType = MET_UCHAR\n{extra}"
        f"ElementDataFile = {data_file}\n"
    )
    return path


def test_mhd_with_raw_file_reads_and_lists_dropped_keys(tmp_path: Path) -> None:
    values = (np.arange(120) % 251).astype(np.uint8).reshape(4, 5, 6)
    (tmp_path / "v.raw").write_bytes(values.tobytes(order="F"))
    scene = read(_mhd(tmp_path, "v.raw", extra="Comment = for Dr Who\nPatientName = x\n"))
    volume = scene.objects[0].data
    assert isinstance(volume, Volume)
    np.testing.assert_array_equal(volume.values, values)
    assert scene.removed_identifiers == ("Comment", "PatientName")


@pytest.mark.parametrize("data_file", ["../outside.raw", "/etc/passwd"])
def test_mhd_data_file_outside_its_folder_is_refused(tmp_path: Path, data_file: str) -> None:
    (tmp_path / "outside.raw").write_bytes(b"\x00" * 120)
    (tmp_path / "h").mkdir()
    with pytest.raises(UnreadableFileError, match=r"^v\.mhd: data file lies outside the header's folder"):
        read(_mhd(tmp_path / "h", data_file))


def test_mha_truncated_enormous_and_list_headers(tmp_path: Path) -> None:
    (tmp_path / "short.raw").write_bytes(b"\x00" * 50)
    with pytest.raises(UnreadableFileError, match=r"^v\.mhd: truncated: header says 120 bytes"):
        read(_mhd(tmp_path, "short.raw"))
    (tmp_path / "big").mkdir()
    with pytest.raises(LimitExceededError, match=r"header claims 1,000,000,000,000,000 voxels"):
        read(_mhd(tmp_path / "big", "LOCAL", dims="100000 100000 100000"))
    (tmp_path / "list").mkdir()
    with pytest.raises(UnreadableFileError, match="multi-file MetaImage"):
        read(_mhd(tmp_path / "list", "LIST"))


# --- garbage and sniffing ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz", "a.nrrd", "a.nhdr", "a.mha", "a.mhd", "a.zip", "a.dcm"])
def test_empty_and_random_files_give_one_line_errors_naming_the_file(tmp_path: Path, name: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / name).write_bytes(b"")
    with pytest.raises(UnreadableFileError, match=rf"^{name.replace('.', chr(92) + '.')}: file is empty$"):
        read(tmp_path / "empty" / name)
    (tmp_path / name).write_bytes(np.random.default_rng(7).bytes(5000))
    with pytest.raises(InputError) as info:
        read(tmp_path / name)
    assert str(info.value).startswith(f"{name}: ") and "\n" not in str(info.value)


def test_sniffers_recognise_their_formats_only(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(_ramp(), np.eye(4)), tmp_path / "a.nii.gz")
    nib.save(nib.Nifti1Image(_ramp(), np.eye(4)), tmp_path / "a.nii")
    assert sniff_nifti((tmp_path / "a.nii.gz").read_bytes()[:4096])
    assert sniff_nifti((tmp_path / "a.nii").read_bytes()[:4096])
    assert not sniff_nifti(gzip.compress(b"solid ascii stl" * 100))
    assert sniff_nrrd(b"NRRD0005\ntype: float\n") and not sniff_nrrd(b"NRRX")
    assert sniff_metaimage(b"ObjectType = Image\nNDims = 3\n") and sniff_metaimage(b"NDims = 2\n")
    assert not sniff_metaimage(b"# vtk DataFile Version 3.0\n")

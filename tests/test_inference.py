import json
import os

import h5py
import numpy as np
import pytest
import SimpleITK as sitk
import torch

from monai_chpnet.data.sample import sample_volume_path
from monai_chpnet.data.synthetic import ellipse_phantom, write_fastmri_h5
from monai_chpnet.data.volumes import read_volume
from monai_chpnet.inference import (
    evaluate_files,
    load_network,
    metadata_eval_metrics,
    reconstruct_file,
    reconstruct_volume,
    update_metadata_metrics,
    write_outputs,
)
from monai_chpnet.metrics import psnr
from monai_chpnet.networks.student import student_from_preset


@pytest.fixture(scope="module")
def tiny_student():
    torch.manual_seed(0)
    return student_from_preset("tiny", in_channels=2).eval()


def _geometry_image(path, vol):
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.8, 0.9, 3.0))
    img.SetOrigin((-10.0, 20.5, 7.25))
    img.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(img, str(path))
    return img


def test_sample_volume_zero_filled_baseline_and_outputs_keep_geometry(tmp_path):
    result = reconstruct_file(sample_volume_path(), None, acceleration=4, seed=0)
    assert result.reconstruction.shape == (20, 256, 256)
    # no network: the reconstruction *is* zero-filling, and it is clearly worse than the reference
    assert np.array_equal(result.reconstruction, result.zero_filled)
    m = result.metrics["zero_filled"]
    assert 20.0 < m["psnr"] < 35.0 and 0.0 < m["nmse"] < 0.1
    assert abs(result.acceleration - 4.0) < 0.5
    paths = write_outputs(result, tmp_path)
    ref = sitk.ReadImage(str(sample_volume_path()))
    out = sitk.ReadImage(str(paths["reconstruction"]))
    assert out.GetSize() == ref.GetSize()
    assert np.allclose(out.GetSpacing(), ref.GetSpacing()) and np.allclose(out.GetOrigin(), ref.GetOrigin())
    assert np.allclose(out.GetDirection(), ref.GetDirection())
    assert np.allclose(sitk.GetArrayFromImage(out), result.reconstruction, atol=1e-6)
    report = json.loads(paths["metrics"].read_text())
    assert report["metrics"]["zero_filled"]["psnr"] == pytest.approx(m["psnr"])
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")], "temporary files left behind"


def test_same_seed_same_mask_and_slices_share_it():
    vol = ellipse_phantom(3, (32, 40))
    a = reconstruct_volume(vol, None, acceleration=4, seed=3)
    b = reconstruct_volume(vol, None, acceleration=4, seed=3)
    c = reconstruct_volume(vol, None, acceleration=4, seed=4)
    assert np.array_equal(a.mask, b.mask) and not np.array_equal(a.mask, c.mask)
    assert np.array_equal(a.zero_filled, b.zero_filled)


def test_network_with_hard_dc_keeps_measured_lines(tiny_student):
    vol = ellipse_phantom(2, (32, 32))
    r = reconstruct_volume(vol, tiny_student, acceleration=4, seed=0)
    assert r.reconstruction.shape == vol.shape and np.isfinite(r.reconstruction).all()
    assert r.metrics["reconstruction"]["psnr"] == pytest.approx(psnr(vol, r.reconstruction), abs=1e-6)


def test_evaluate_files_measures_agreement_with_one_network(tmp_path, tiny_student):
    vol = ellipse_phantom(2, (32, 32))
    path = tmp_path / "phantom.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(vol), str(path))
    nets = {"zero-filled": None, "student": tiny_student, "same student": tiny_student}
    rows = evaluate_files({"phantom": path}, nets, accelerations=(4.0,), agreement_with="student")
    by = {r["method"]: r for r in rows}
    assert by["student"]["psnr_agreement"] is None  # not against itself
    assert by["same student"]["psnr_agreement"] == float("inf")  # the same network agrees exactly
    r_s = reconstruct_file(path, tiny_student, acceleration=4.0, seed=0)
    r_z = reconstruct_file(path, None, acceleration=4.0, seed=0)
    expected = psnr(r_s.reconstruction, r_z.reconstruction, data_range=float(r_s.reference.max()))
    assert by["zero-filled"]["psnr_agreement"] == pytest.approx(expected)
    assert by["zero-filled"]["psnr"] == pytest.approx(r_z.metrics["reconstruction"]["psnr"])
    assert "psnr_agreement" not in evaluate_files({"phantom": path}, {"zf": None}, accelerations=(4.0,))[0]
    with pytest.raises(KeyError, match="teacher"):
        evaluate_files({"phantom": path}, nets, agreement_with="teacher")


def test_dicom_series_and_nrrd_round_trip_geometry(tmp_path, tiny_student):
    vol = (ellipse_phantom(4, (32, 32)) * 1000).astype(np.int16)
    series = tmp_path / "series"
    series.mkdir()
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.7, 0.7, 2.5))
    img.SetOrigin((5.0, -3.0, 10.0))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(vol.shape[0]):
        s = img[:, :, k]
        s.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1.424242")  # one series
        s.SetMetaData("0020|000d", "1.2.826.0.1.3680043.2.1125.1.4242")
        s.SetMetaData("0020|0013", str(k + 1))
        s.SetMetaData("0020|0032", "\\".join(map(str, img.TransformIndexToPhysicalPoint((0, 0, k)))))
        s.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        s.SetMetaData("0008|0060", "MR")
        writer.SetFileName(str(series / f"{k:03d}.dcm"))
        writer.Execute(s)
    r = reconstruct_file(series, tiny_student, acceleration=4)
    assert r.reconstruction.shape == (4, 32, 32)
    paths = write_outputs(r, tmp_path / "out")
    back, geom = read_volume(paths["reconstruction"])
    assert np.allclose(geom.spacing, (0.7, 0.7, 2.5), atol=1e-4) and np.allclose(
        geom.origin, (5.0, -3.0, 10.0), atol=1e-4
    )
    nrrd = tmp_path / "v.nrrd"
    _geometry_image(nrrd, ellipse_phantom(3, (24, 28)))
    r = reconstruct_file(nrrd, None, acceleration=8, slice_axis=2)
    assert r.reconstruction.shape == (28, 3, 24)  # sagittal: 3-pixel slices reconstruct, SSIM is undefined
    assert r.metrics["zero_filled"]["ssim"] is None and r.metrics["zero_filled"]["psnr"] > 0
    # blank edge slices (outside the phantom) pass through as zeros
    assert not r.reconstruction[0].any() and r.reconstruction[14].any()


def test_fastmri_h5_uses_its_own_kspace(tmp_path, tiny_student):
    path = tmp_path / "file1000001.h5"
    write_fastmri_h5(path, ellipse_phantom(3, (48, 40)), kspace_shape=(64, 48), recon_size=(40, 40))
    r = reconstruct_file(path, None, acceleration=4)
    assert r.reconstruction.shape == (3, 40, 40) and r.reference.shape == (3, 40, 40)
    with h5py.File(path) as f:
        assert np.allclose(r.reference, f["reconstruction_esc"][()], atol=1e-5)
    assert r.metrics["zero_filled"]["psnr"] > 10
    # acquired-undersampled mode: the file's k-space taken as measured (here: fully sampled -> exact)
    full = reconstruct_file(path, None, acceleration=None)
    assert full.acceleration == pytest.approx(1.0)
    assert full.metrics["zero_filled"]["psnr"] > 60
    r = reconstruct_file(path, tiny_student, acceleration=4)
    assert r.reconstruction.shape == (3, 40, 40)


def test_bad_inputs_raise_one_line_errors(tmp_path, tiny_student):
    with pytest.raises(FileNotFoundError, match="input not found"):
        reconstruct_file(tmp_path / "missing.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not an image")
    with pytest.raises(OSError, match="cannot read volume .*bad.nii.gz"):
        reconstruct_file(bad)
    multi = tmp_path / "multi.h5"
    write_fastmri_h5(multi, ellipse_phantom(2, (32, 32)), kspace_shape=(32, 32), recon_size=(32, 32), num_coils=4)
    with pytest.raises(ValueError, match="multi-coil"):
        reconstruct_file(multi)
    img4d = sitk.JoinSeries([sitk.GetImageFromArray(np.zeros((3, 8, 8), np.float32))] * 2)
    sitk.WriteImage(img4d, str(tmp_path / "v4d.nii.gz"))
    with pytest.raises(ValueError, match="4-D|4D|dimension"):
        reconstruct_file(tmp_path / "v4d.nii.gz")
    with pytest.raises(FileNotFoundError, match="weights not found"):
        load_network(tmp_path / "none.pt", preset="tiny")
    torch.save(student_from_preset("small", in_channels=2).state_dict(), tmp_path / "small.pt")
    with pytest.raises(ValueError, match="do not fit SubpixelCNNStudent"):
        load_network(tmp_path / "small.pt", preset="tiny")
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_network(tmp_path / "junk.pt", preset="tiny")
    result = reconstruct_volume(ellipse_phantom(2, (16, 16)), None, acceleration=4)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        write_outputs(result, tmp_path / "file")
    with pytest.raises(ValueError, match="acceleration must be a number >= 1"):
        reconstruct_volume(ellipse_phantom(2, (16, 16)), None, acceleration=0.5)
    with pytest.raises(ValueError, match="NaN"):
        reconstruct_volume(np.full((1, 8, 8), np.nan), None)


def test_load_network_accepts_checkpoints(tmp_path, tiny_student):
    torch.save({"student": tiny_student.state_dict(), "optimizer": {}}, tmp_path / "ckpt.pt")
    net = load_network(tmp_path / "ckpt.pt", preset="tiny")
    for a, b in zip(net.state_dict().values(), tiny_student.state_dict().values()):
        assert torch.equal(a, b)


def test_cli_demo_and_errors(tmp_path, capsys):
    from monai_chpnet.__main__ import main

    assert main(["demo", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "zero_filled" in out and "PSNR" in out
    assert (tmp_path / "sample_t1_brain_recon.nii.gz").is_file()
    assert main(["reconstruct", str(tmp_path / "nope.nii.gz"), "--output-dir", str(tmp_path)]) == 2
    assert "input not found" in capsys.readouterr().err
    slab = str(tmp_path / "sample_t1_brain_recon.nii.gz")
    for bad, words in (
        (["--device", "gpu"], "--device 'gpu' is not a torch device"),
        *([] if torch.cuda.is_available() else [(["--device", "cuda"], "no CUDA device")]),
    ):
        assert main(["reconstruct", slab, "--output-dir", str(tmp_path / "x"), *bad]) == 2
        assert words in capsys.readouterr().err
    for bad in (["--batch-size", "0"], ["--threads", "-2"]):
        with pytest.raises(SystemExit) as info:  # argparse: usage and the option's problem, exit status 2
            main(["reconstruct", slab, *bad])
        assert info.value.code == 2 and bad[0] in capsys.readouterr().err


def test_dicom_folder_with_several_series_is_read_by_series_id(tmp_path, capsys):
    from monai_chpnet.__main__ import main

    vol = (ellipse_phantom(3, (32, 32)) * 1000).astype(np.int16)
    folder = tmp_path / "two"
    folder.mkdir()
    for series, scale in (("1.2.3.1", 1), ("1.2.3.2", 2)):
        for k in range(3):
            s = sitk.GetImageFromArray(vol[k] * scale)
            for tag, value in (
                ("0008|0060", "MR"),
                ("0020|000d", "1.2.3"),
                ("0020|000e", series),
                ("0020|0013", str(k + 1)),
                ("0020|0032", f"0\\0\\{3.0 * k}"),
                ("0020|0037", "1\\0\\0\\0\\1\\0"),
            ):
                s.SetMetaData(tag, value)
            writer = sitk.ImageFileWriter()
            writer.KeepOriginalImageUIDOn()
            writer.SetFileName(str(folder / f"{series}_{k}.dcm"))
            writer.Execute(s)
    assert main(["reconstruct", str(folder), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "holds 2 DICOM series" in err and "--series-id" in err  # the option that chooses one is named
    assert main(["reconstruct", str(folder), "--series-id", "1.2.3.2", "--output-dir", str(tmp_path / "o")]) == 0
    second = reconstruct_file(folder, None, series_id="1.2.3.2")
    first = reconstruct_file(folder, None, series_id="1.2.3.1")
    assert np.allclose(second.reference, 2 * first.reference)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_a_cuda_device_without_cuda_is_named_not_blamed_on_the_file():
    from monai_chpnet.inference import default_bundle_dir

    with pytest.raises(ValueError, match="device cuda:0: this machine has no CUDA device"):
        load_network(default_bundle_dir() / "models" / "model.pt", preset="small", map_location="cuda:0")


def test_load_bundle_network_is_the_shipped_student(tmp_path, monkeypatch):
    from monai_chpnet.inference import BUNDLE_ENV, default_bundle_dir, load_bundle_network, load_network

    bundle = default_bundle_dir()
    net = load_bundle_network(bundle)
    ref = load_network(bundle / "models" / "model.pt", preset="small")
    for (k, a), (_, b) in zip(net.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), k
    monkeypatch.setenv(BUNDLE_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MONAI_CHPNET_BUNDLE"):
        default_bundle_dir()
    with pytest.raises(FileNotFoundError, match="bundle weights not found"):
        load_bundle_network(bundle, checkpoint=tmp_path / "missing.pt")


def test_already_undersampled_images_use_the_acquisitions_mask():
    """An image that *is* a zero-filled acquisition is reconstructed with that acquisition's mask: the measured
    columns of its k-space are kept (same mask as the simulation with that seed), the network (with data consistency) improves on it, and an image
    volume without any acceleration is a clear error instead of a network run without data consistency."""
    from monai_chpnet.inference import load_bundle_network

    volume, _ = read_volume(sample_volume_path())
    volume = volume[8:12]
    net = load_bundle_network()
    acquired = reconstruct_volume(volume, None, acceleration=4.0, seed=3)
    result = reconstruct_volume(acquired.zero_filled, net, acceleration=4.0, seed=3, undersampled=True)
    assert result.reference is None and result.metrics == {}
    np.testing.assert_array_equal(result.mask, acquired.mask)
    assert np.allclose(result.zero_filled, acquired.zero_filled, rtol=1e-4, atol=1e-3)
    assert psnr(volume, result.reconstruction) > psnr(volume, acquired.zero_filled) + 0.2
    # zero-filled "reconstruction" of an undersampled input is the input
    baseline = reconstruct_volume(acquired.zero_filled, None, acceleration=4.0, seed=3, undersampled=True)
    assert np.allclose(baseline.reconstruction, acquired.zero_filled, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="no k-space of its own"):
        reconstruct_volume(volume, net, acceleration=None)


ROWS = [
    {"source": "t1_demo", "acceleration": 4.0, "method": "zero-filled", "psnr": 25.033090787, "ssim": 0.60976717},
    {"source": "t1_demo", "acceleration": 8.0, "method": "student", "psnr": 24.84042290, "ssim": 0.70273799},
    {"source": "epi", "acceleration": 2.5, "method": "dynamic KD", "psnr": 31.0, "ssim": 0.5},
]


def test_metadata_eval_metrics_names_and_rounds_each_row():
    assert metadata_eval_metrics(ROWS) == {
        "t1_demo_4x_zero_filled_psnr": 25.033,
        "t1_demo_4x_zero_filled_ssim": 0.6098,
        "t1_demo_8x_student_psnr": 24.84,
        "t1_demo_8x_student_ssim": 0.7027,
        "epi_2.5x_dynamic_KD_psnr": 31.0,
        "epi_2.5x_dynamic_KD_ssim": 0.5,
    }
    with pytest.raises(ValueError, match="two evaluation rows for source 't1_demo', 8x, method 'student'"):
        metadata_eval_metrics(ROWS + [dict(ROWS[1], psnr=1.0)])
    with pytest.raises(KeyError, match="ssim"):
        metadata_eval_metrics([{k: v for k, v in ROWS[0].items() if k != "ssim"}])


def test_update_metadata_metrics_replaces_only_eval_metrics_atomically(tmp_path):
    meta = {"version": "9.9.9", "eval_metrics": {"stale_psnr": 1.0}, "network_data_format": {"inputs": {}}}
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(meta, indent=4))
    assert update_metadata_metrics(ROWS[:2], path) == path
    written = json.loads(path.read_text())
    assert written["eval_metrics"] == metadata_eval_metrics(ROWS[:2])  # the stale key is gone
    assert {k: v for k, v in written.items() if k != "eval_metrics"} == {
        k: v for k, v in meta.items() if k != "eval_metrics"
    }
    assert [p.name for p in tmp_path.iterdir()] == ["metadata.json"]  # no temporary file left behind
    before = path.read_text()
    with pytest.raises(ValueError, match="no evaluation rows"):
        update_metadata_metrics([], path)
    path_bad = tmp_path / "broken.json"
    path_bad.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        update_metadata_metrics(ROWS, path_bad)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        update_metadata_metrics(ROWS, tmp_path / "missing.json")
    assert path.read_text() == before  # a refused update leaves the file untouched


def test_negative_volume_is_refused_not_silently_rectified(caplog):
    vol = ellipse_phantom(2, (32, 32)) - 0.5  # e.g. a z-scored image: the magnitude output could never match it
    with pytest.raises(ValueError, match=r"volume zscored has negative values \(minimum -0.5,"):
        reconstruct_volume(vol, None, acceleration=4, source="zscored")
    # resampling undershoot of a magnitude image (a thousandth of its maximum) is clipped, with a warning
    clean = ellipse_phantom(2, (32, 32))
    ringing = clean.copy()
    ringing[clean == 0] = -1e-3 * clean.max()
    with caplog.at_level("WARNING", logger="monai_chpnet.inference"):
        r = reconstruct_volume(ringing, None, acceleration=4, source="resampled")
    assert "negative values down to" in caplog.text and "set to 0" in caplog.text
    assert np.array_equal(r.reference, reconstruct_volume(clean, None, acceleration=4).reference)


def test_inputs_that_would_share_output_names_are_refused_before_writing(tmp_path, tiny_student):
    from monai_chpnet.inference import FileReconstructor

    vol = ellipse_phantom(2, (32, 32))
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        sitk.WriteImage(sitk.GetImageFromArray(vol), str(tmp_path / sub / "brain.nii.gz"))
    out = tmp_path / "out"
    job = FileReconstructor(
        [tmp_path / "a" / "brain.nii.gz", {"image": tmp_path / "b" / "brain.nii.gz"}], tiny_student, out
    )
    with pytest.raises(ValueError, match=r"a/brain.nii.gz and .*b/brain.nii.gz would both be written as brain_\*"):
        job.run()
    assert not out.exists() or not any(out.iterdir())  # nothing written
    assert len(FileReconstructor([tmp_path / "a" / "brain.nii.gz"], tiny_student, out).run()) == 1


def test_transform_errors_surface_as_their_specific_cause_naming_the_file(tmp_path):
    narrow = tmp_path / "narrow.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(ellipse_phantom(3, (16, 6))), str(narrow))
    with pytest.raises(ValueError, match=r"volume .*narrow.nii.gz: k-space width 6 is too small") as info:
        reconstruct_file(narrow, None, acceleration=4.0)
    assert "applying transform" not in str(info.value)
    h5 = write_fastmri_h5(
        tmp_path / "test1.h5", ellipse_phantom(2, (32, 32)), kspace_shape=(64, 64), recon_size=(32, 32)
    )
    with h5py.File(h5, "a") as f:
        f["kspace"][..., 1::2] = 0
        del f["reconstruction_esc"]
    with pytest.raises(ValueError, match=r"test1.h5 has no reference .*undersampled=True"):
        reconstruct_file(h5, None, acceleration=4.0)
    result = reconstruct_file(h5, None, undersampled=True)
    assert result.acceleration == pytest.approx(2.0) and result.reconstruction.shape == (2, 32, 32)

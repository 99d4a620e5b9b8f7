"""Export and numerical verification of a run (no Triton needed)."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch
from exporter_settings import SETTINGS
from onnx import numpy_helper

from conftest import make_run, simulated_witness, torch_noise
from exporter import convert, export_process, model_template
from exporter.export_process import ExportConfig
from utils.errors import ModelError, VerificationError
from utils.inference import Scheme, predict

BOUND = 1e-4  # max |ORT - torch| / RMS(torch); float32 round-off is ~1e-6


def export_config(**changes: object) -> ExportConfig:
    """The root configuration's export settings with ``changes``."""
    return replace(SETTINGS.export_config(), **changes)


def test_export_matches_torch_on_any_length(tmp_path):
    run = make_run(tmp_path / "train", 1000, 2000)
    result = convert.convert_run(run.path, tmp_path / "out", export_config())
    assert result["verification_error"] <= BOUND
    assert result["gps_start"] == 1000 and result["gps_stop"] == 2000
    runner = model_template.make_onnx_runner(tmp_path / "out" / "model.onnx")
    # scalers are in the graph: raw witnesses in, raw strain-unit noise out
    witness = simulated_witness(5000, 3)
    for size in (16, 4096, 3 * 4096 - 16):
        expected = torch_noise(run.model, witness[:, :size])
        got = runner(witness[None, :, :size])[0]
        assert got.shape == (size,)
        assert convert.relative_error(got, expected) <= BOUND
    assert np.sqrt(np.mean(expected**2)) > 1e-22  # strain units, not scaled


def test_corrupted_weight_is_refused(tmp_path):
    run = make_run(tmp_path / "train", 1000, 2000)
    path = tmp_path / "model.onnx"
    convert.export_onnx(run.model, path, export_config())
    graph = onnx.load(str(path))
    # flip the sign of one output-conv weight, as a wrong exported
    # (transposed) convolution would
    weight = next(
        t for t in graph.graph.initializer if "output_conv.weight" in t.name
    )
    array = numpy_helper.to_array(weight).copy()
    array.flat[0] *= -1
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    onnx.save(graph, str(path))
    runner = model_template.make_onnx_runner(path)
    with pytest.raises(VerificationError, match="disagrees"):
        convert.verify(run.model, runner, run.witness, BOUND, "corrupted")


def test_bound_of_zero_refuses_round_off(tmp_path):
    run = make_run(tmp_path / "train", 1000, 2000)
    with pytest.raises(VerificationError, match="max_verification_error"):
        convert.convert_run(
            run.path,
            tmp_path / "out",
            export_config(max_verification_error=0.0),
        )


def test_tensorrt_missing_is_a_clear_model_error(tmp_path, monkeypatch):
    # TensorRT cannot be installed here; make it unimportable on any machine
    # (a None entry in sys.modules makes `import tensorrt` fail)
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    run = make_run(tmp_path / "train", 1000, 2000)
    with pytest.raises(ModelError, match="tensorrt"):
        convert.convert_run(
            run.path, tmp_path / "out", export_config(backend="tensorrt")
        )
    assert not (tmp_path / "out" / "model.onnx").exists()


def _gpu_and_tensorrt() -> bool:
    try:
        import tensorrt  # noqa: F401
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(
    not _gpu_and_tensorrt(), reason="needs an NVIDIA GPU and TensorRT"
)
def test_tensorrt_plan_matches_torch(tmp_path):
    run = make_run(tmp_path / "train", 1000, 2000)
    result = convert.convert_run(
        run.path, tmp_path / "out", export_config(backend="tensorrt")
    )
    assert (tmp_path / "out" / "model.plan").is_file()
    assert result["verification_error"] <= BOUND


def test_bad_verification_data_is_a_model_error(tmp_path):
    run = make_run(tmp_path / "train", 1000, 2000)
    np.savez(run.path / "verify.npz", witness=run.witness[:2])
    with pytest.raises(ModelError, match="verify.npz"):
        convert.convert_run(run.path, tmp_path / "out", export_config())
    (run.path / "verify.npz").unlink()
    with pytest.raises(ModelError, match="verify.npz"):
        convert.convert_run(run.path, tmp_path / "out", export_config())


def test_kernels_scheme_through_onnx_equals_torch(tmp_path):
    """The kernels scheme (the seed's, scaled down to 0.5 s kernels at
    128 Hz with 0.25 s averaging to keep the test short), run by the served
    runner from config.pbtxt-style parameters, equals torch's."""
    run = make_run(tmp_path / "train", 1000, 2000)
    convert.convert_run(run.path, tmp_path / "out", export_config())
    runner = model_template.make_onnx_runner(tmp_path / "out" / "model.onnx")
    scheme = model_template.scheme_from_parameters(
        {
            "scheme": "kernels",
            "kernel_length": "0.5",
            "inference_sampling_rate": "128",
            "aggregation_length": "0.25",
        }
    )
    assert scheme == Scheme("kernels", 4096, 0.5, 128.0, 0.25)
    window = run.witness[:, :4096]
    got = predict(window, runner, scheme)

    def torch_run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return run.model(torch.from_numpy(batch)).numpy()

    expected = predict(window, torch_run, scheme)
    # kernels end in [0.5 s, 1 s]; a sample is averaged over all 32 kernels
    # whose last 0.25 s holds it from 0.5 s to 0.75 s
    complete = slice(2048, 2048 + 1024)
    assert np.all(expected[complete] != 0) and np.all(expected[:2000] == 0)
    assert convert.relative_error(got[complete], expected[complete]) <= BOUND


def test_subprocess_entry_reports_refusal(tmp_path, capsys):
    run = make_run(tmp_path / "train", 1000, 2000)
    bounded = export_config(max_verification_error=0)
    config = export_process.config_argument(bounded)
    code = convert.main([str(run.path), str(tmp_path / "out"), config])
    assert code == export_process.EXIT_REFUSED
    assert '"error": "VerificationError"' in capsys.readouterr().out
    assert not (tmp_path / "out" / export_process.RESULT_FILE).exists()


def test_subprocess_timeout_is_a_model_error(tmp_path):
    run = make_run(tmp_path / "train", 1000, 2000)
    (tmp_path / "out").mkdir()
    with pytest.raises(ModelError, match="longer than"):
        export_process.run_conversion(
            run.path, tmp_path / "out", export_config(timeout=0.05)
        )

"""Export and numerical verification of a run (no Triton needed)."""

from __future__ import annotations

import sys
import types
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch
from exporter_settings import SETTINGS
from exporter_settings import load_settings
from onnx import numpy_helper

from conftest import WITNESSES
from conftest import make_run
from conftest import simulated_witness
from conftest import torch_noise
from exporter import convert
from exporter import export_process
from exporter import model_template
from exporter.export_process import ExportConfig
from utils.errors import ModelError
from utils.errors import VerificationError
from utils.inference import Scheme
from utils.inference import predict

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


def test_a_run_on_other_witnesses_than_the_cleaner_sends_exports_nothing(
    tmp_path,
):
    """Refused before anything is exported (a TensorRT build costs up to
    export_timeout); the same witnesses in the same order pass, through
    the subprocess's JSON too."""
    run = make_run(tmp_path / "train", 1000, 2000)
    other = export_config(witness_channels=tuple(reversed(WITNESSES)))
    with pytest.raises(ModelError, match="than the cleaner sends"):
        convert.convert_run(run.path, tmp_path / "out", other)
    assert not (tmp_path / "out" / "model.onnx").exists()
    same = export_config(witness_channels=WITNESSES)
    argument = export_process.config_argument(same)
    code = convert.main([str(run.path), str(tmp_path / "out"), argument])
    assert code == 0
    assert (tmp_path / "out" / "model.onnx").is_file()


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
    assert scheme == Scheme(
        name="kernels",
        sample_rate=4096,
        kernel_length=0.5,
        inference_sampling_rate=128.0,
        aggregation_length=0.25,
    )
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


def test_verification_runs_the_largest_batch_of_the_production_scheme(
    tmp_path,
):
    """[exporter-production]'s kernels scheme calls the network with
    inference_batch_size kernels at once: the export is verified on exactly
    that batch, here for real with the ONNX Runtime runner (TensorRT's
    profile is checked by the same code on GPU nodes)."""
    production = load_settings("exporter-production")
    batch, item_size = production.largest_batch()
    assert batch == production.inference_batch_size
    assert item_size == production.inference_scheme().kernel_size
    assert batch <= production.trt_max_batch_size  # the plan's profile
    run = make_run(tmp_path / "train", 1000, 2000)
    config = replace(production.export_config(), backend="onnx-python")
    result = convert.convert_run(run.path, tmp_path / "out", config)
    channels = run.witness.shape[0]
    assert result["verified_largest_batch"] == [batch, channels, item_size]
    assert result["verification_error"] <= BOUND


def test_a_model_that_cannot_take_the_largest_batch_is_refused(tmp_path):
    """A stand-in for a TensorRT engine whose profile stops at 128 (TensorRT
    cannot run here): the verification's largest batch (512) fails, so the
    version is never served."""
    run = make_run(tmp_path / "train", 1000, 2000)
    convert.convert_run(run.path, tmp_path / "out", export_config())
    onnx_run = model_template.make_onnx_runner(tmp_path / "out" / "model.onnx")
    profile_max = 128

    def engine(batch: np.ndarray) -> np.ndarray:
        if batch.shape[0] > profile_max:
            raise RuntimeError(f"batch {batch.shape[0]} > profile max")
        return onnx_run(batch)

    error = convert.verify(run.model, engine, run.witness, BOUND, "plan")
    assert error <= BOUND  # batches of 1 and 2 pass: the old check did
    with pytest.raises(VerificationError, match=r"shape \[512, 3, 4096\]"):
        convert.verify(
            run.model, engine, run.witness, BOUND, "plan", (512, 4096)
        )


def test_largest_batch_longer_than_the_verification_data_is_refused():
    witness = simulated_witness(0, 1, 0)
    with pytest.raises(ModelError, match="shorter than one item"):
        convert.largest_batch(witness, 4, witness.shape[-1] + 16)


def test_tensorrt_of_another_release_than_the_container_is_refused(
    tmp_path, monkeypatch
):
    # TensorRT cannot be installed here: a stand-in module that has only
    # what the check reads, its release
    fake = types.ModuleType("tensorrt")
    fake.__version__ = "10.3.0"
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    run = make_run(tmp_path / "train", 1000, 2000)
    config = export_config(backend="tensorrt", tensorrt_version="10.5")
    with pytest.raises(ModelError, match=r"TensorRT 10.3.0 .* TensorRT 10.5"):
        convert.convert_run(run.path, tmp_path / "out", config)
    assert not (tmp_path / "out" / "model.onnx").exists()


class RecordingTensorRT(types.ModuleType):
    """A stand-in for the ``tensorrt`` module (it cannot be installed
    here) that records what ``build_plan`` asks of the builder."""

    class BuilderFlag:
        FP16, TF32 = "FP16", "TF32"

    class Logger:
        WARNING = "WARNING"

        def __init__(self, level: str) -> None:
            pass

    def __init__(self) -> None:
        super().__init__("tensorrt")
        self.__version__ = "10.5.0"
        self.flags = {"TF32"}  # TensorRT's default for FP32 networks
        self.shapes: dict[str, tuple] = {}
        trt = self

        class Config:
            def set_flag(self, flag: str) -> None:
                trt.flags.add(flag)

            def clear_flag(self, flag: str) -> None:
                trt.flags.discard(flag)

            def add_optimization_profile(self, profile: object) -> None:
                pass

        class Profile:
            def set_shape(self, name: str, *shapes: tuple) -> None:
                trt.shapes[name] = shapes

        class Builder:
            def __init__(self, logger: object) -> None:
                pass

            def create_network(self, flags: int) -> object:
                return object()

            def create_builder_config(self) -> Config:
                return Config()

            def create_optimization_profile(self) -> Profile:
                return Profile()

            def build_serialized_network(self, network, config) -> bytes:
                return b"plan"

        class OnnxParser:
            num_errors = 0

            def __init__(self, network: object, logger: object) -> None:
                pass

            def parse(self, data: bytes) -> bool:
                return data.startswith(b"\x08")  # an ONNX ModelProto

        self.Builder, self.OnnxParser = Builder, OnnxParser


def test_plans_are_built_in_fp32_over_the_served_profile(
    tmp_path, monkeypatch
):
    """TF32 off (on an H200 it missed the verification bound: bench_gpu);
    the profile is the one Triton is told. TensorRT itself is mocked."""
    from exporter import tensorrt_plan

    trt = RecordingTensorRT()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    run = make_run(tmp_path / "train", 1000, 2000)
    onnx_path = tmp_path / "model.onnx"
    convert.export_onnx(run.model, onnx_path, export_config())
    profile = tensorrt_plan.PlanProfile(769, 4096, 8192, 65536)
    plan = tmp_path / "model.plan"
    channels = run.model.num_witnesses
    tensorrt_plan.build_plan(onnx_path, plan, channels, profile)
    assert trt.flags == set()
    assert trt.shapes["witness"] == profile.shapes(channels)
    assert trt.shapes["witness"] == (
        (1, channels, 4096),
        (769, channels, 4096),
        (769, channels, 4096),
    )
    assert plan.read_bytes() == b"plan"


def test_a_kernels_plan_is_verified_on_the_calls_triton_makes(tmp_path):
    """A plan whose profile takes whole kernels only (a stand-in that
    refuses other shapes, as a TensorRT engine does; TensorRT cannot run
    here) is verified on one kernel and the largest call, not on windows
    it will never be sent."""
    from exporter.tensorrt_plan import PlanProfile

    run = make_run(tmp_path / "train", 1000, 2000)
    convert.convert_run(run.path, tmp_path / "out", export_config())
    onnx_run = model_template.make_onnx_runner(tmp_path / "out" / "model.onnx")
    profile = PlanProfile(64, 4096, 8192, 65536)
    low, _, high = profile.shapes(run.witness.shape[0])
    seen = []

    def engine(batch: np.ndarray) -> np.ndarray:
        bounds = zip(low, batch.shape, high, strict=True)
        if not all(a <= b <= c for a, b, c in bounds):
            raise RuntimeError(f"shape {batch.shape} outside the profile")
        seen.append(batch.shape)
        return onnx_run(batch)

    largest = (64, 4096)
    error = convert.verify(
        run.model, engine, run.witness, BOUND, "plan", largest, profile
    )
    assert error <= BOUND
    assert seen == [(1, 3, 4096), (64, 3, 4096)]
    with pytest.raises(VerificationError, match="fails on a batch"):
        convert.verify(run.model, engine, run.witness, BOUND, "plan", largest)

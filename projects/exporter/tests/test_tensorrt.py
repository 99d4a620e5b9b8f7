"""Backend ``tensorrt``: the plan served by Triton's TensorRT backend
(platform ``tensorrt_plan``) inside the production/canary ensemble.

TensorRT and a GPU cannot exist here, and the CPU ``tritonserver`` has only
the python backend. So the configs are checked as Triton reads them (the
``ModelConfig`` protobuf), and the whole ensemble runs on the real CPU
``tritonserver`` with the ``tensorrt_plan`` model REPLACED by a python
stand-in (``plan_standin.py``: same name, versions, ``max_batch_size`` and
tensors, ONNX Runtime on the graph the plan is built from). That is the
only mock: the exporter, its switch protocol, the ``deepclean-kernels`` and
``deepclean-aggregate`` steps and the version tags are real. None of this
has run on a GPU.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from exporter_settings import ENVIRON
from exporter_settings import PYPROJECT
from exporter_settings import SETTINGS
from exporter_settings import load_settings
from google.protobuf import text_format
from serving import BOUND
from serving import Stream
from serving import infer
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.utils import InferenceServerException

from conftest import AUTH
from conftest import app_config
from conftest import export_run
from conftest import make_run
from conftest import simulated_witness
from exporter import convert
from exporter import export_process
from exporter import layout
from exporter.app import create_app
from exporter.app import service_of
from exporter.config import cleaner_settings
from exporter.layout import AGGREGATE_MODEL_NAME
from exporter.layout import KERNELS_MODEL_NAME
from exporter.repository import ModelRepository
from exporter.repository import RepositoryState
from utils.errors import ConfigError
from utils.inference import kernel_starts
from utils.inference import predict
from utils.waiting import wait_for

PRODUCTION = load_settings("exporter-production")
NUM_WITNESSES = 21  # H1's list
STANDIN = Path(__file__).with_name("plan_standin.py")
REAL_PLAN_CONFIG = layout.plan_config
WINDOW_LENGTH = 2  # s per request
# the seed's kernels (1 s, 0.5 s averaged), 8x sparser to keep the CPU
# test short: (2 s - 1 s) * 64 Hz + 1 = 65 kernels per window, one call
SCHEME = dict(
    scheme="kernels",
    kernel_length=1.0,
    inference_sampling_rate=64.0,
    aggregation_length=0.5,
    inference_batch_size=65,
    trt_max_batch_size=65,
)


def production_window() -> dict:
    argv = ["--typeo", f"{PYPROJECT}:exporter-production"]
    return cleaner_settings(argv, ENVIRON)[1]


def test_plan_config_covers_every_call_of_the_production_cleaner():
    window = production_window()
    PRODUCTION.check_window(window)
    scheme = PRODUCTION.inference_scheme()
    size = round(window["inference_window_length"] * scheme.sample_rate)
    calls = len(kernel_starts(size, scheme))  # one call per window
    serving = PRODUCTION.serving_config()
    config = layout.parse_config(
        layout.model_config([3, 5], NUM_WITNESSES, serving, "tensorrt")
    )
    assert (config.name, config.platform) == ("deepclean", "tensorrt_plan")
    assert not config.backend
    assert list(config.version_policy.specific.versions) == [3, 5]
    assert config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    kernel = scheme.kernel_size
    assert calls <= config.max_batch_size
    (witness,), (noise,) = config.input, config.output
    assert (witness.name, list(witness.dims)) == (
        "witness",
        [NUM_WITNESSES, kernel],
    )
    assert (noise.name, list(noise.dims)) == ("noise", [kernel])
    # the profile the plan is built with admits every call the config does
    low, opt, high = serving.plan.shapes(NUM_WITNESSES)
    assert serving.plan == PRODUCTION.export_config().plan_profile()
    assert low == (1, NUM_WITNESSES, kernel)
    # tuned for and bounded by the full batch: no memory for shapes the
    # config never admits
    assert opt == high == (config.max_batch_size, NUM_WITNESSES, kernel)
    # the scheme stays readable for the reprocessing workers
    params = {k: v.string_value for k, v in config.parameters.items()}
    assert params["scheme"] == "kernels" and params["kernel_length"] == "1.0"


def test_a_window_beyond_the_profile_is_refused_at_start_up():
    small = replace(
        PRODUCTION, inference_batch_size=512, trt_max_batch_size=512
    )
    with pytest.raises(ConfigError, match="769 items of 4096 samples"):
        small.check_window(production_window())


def steps_of(production: int, canary: int) -> list[tuple]:
    config = layout.parse_config(
        layout.pipeline_config(production, canary, NUM_WITNESSES, "tensorrt")
    )
    assert config.platform == "ensemble"
    return [
        (s.model_name, s.model_version, dict(s.input_map), dict(s.output_map))
        for s in config.ensemble_scheduling.step
    ]


def branch(version: int, prefix: str) -> list[tuple]:
    noise = f"{prefix}_KERNEL_NOISE"
    return [
        ("deepclean", version, {"witness": "KERNELS"}, {"noise": noise}),
        (
            AGGREGATE_MODEL_NAME,
            version,
            {"KERNEL_NOISE": noise, "WINDOW_SIZE": "WINDOW_SIZE"},
            {"NOISE": prefix, "VERSION": f"{prefix}_VERSION"},
        ),
    ]


def test_ensemble_wires_kernels_plan_and_tagging_steps():
    kernels = (
        KERNELS_MODEL_NAME,
        1,
        {"WITNESS": "WITNESS"},
        {"KERNELS": "KERNELS", "WINDOW_SIZE": "WINDOW_SIZE"},
    )
    null = (
        "deepclean-null",
        1,
        {"WITNESS": "WITNESS"},
        {"NOISE": "PRODUCTION", "VERSION": "PRODUCTION_VERSION"},
    )
    assert steps_of(0, 2) == [kernels, null, *branch(2, "CANARY")]
    assert steps_of(1, 2) == [
        kernels,
        *branch(1, "PRODUCTION"),
        *branch(2, "CANARY"),
    ]
    serving = PRODUCTION.serving_config()
    aggregate = layout.parse_config(layout.aggregate_config([1, 2], serving))
    assert list(aggregate.version_policy.specific.versions) == [1, 2]
    cut = layout.parse_config(layout.kernels_config(NUM_WITNESSES, serving))
    assert list(cut.output[0].dims) == [-1, NUM_WITNESSES, 4096]


def test_repository_files_of_a_tensorrt_version(tmp_path):
    settings = replace(PRODUCTION, model_repo=tmp_path / "model_repo")
    repo = ModelRepository(
        settings.repository_config(), settings.serving_config(), "tensorrt"
    )
    with repo.lock:
        repo.ensure()
        for version in (1, 2):
            staging = repo.new_staging()
            (staging / "model.plan").write_bytes(b"plan")
            info = {"version": version, "witness_channels": ["a", "b"]}
            repo.commit_version(staging, version, info)
        state = RepositoryState(production=1, canary=2, num_witnesses=2)
        repo.write_configs(state)
    root = repo.root
    # no python model in a plan's version folder
    assert sorted(p.name for p in (root / "deepclean" / "2").iterdir()) == [
        "model.plan",
        "version.json",
    ]
    for version in ("1", "2"):
        assert (root / AGGREGATE_MODEL_NAME / version / "model.py").is_file()
    assert (root / KERNELS_MODEL_NAME / "1" / "model.py").is_file()
    repo.remove_version(1)
    assert not (root / "deepclean" / "1").exists()
    assert not (root / AGGREGATE_MODEL_NAME / "1").exists()
    assert repo.versioned_models == ("deepclean", AGGREGATE_MODEL_NAME)


# -- the ensemble on the CPU tritonserver, the plan replaced --


def convert_without_tensorrt(run_dir, out_dir, config) -> dict:
    """``run_conversion`` of backend tensorrt without TensorRT: the ONNX
    export and its verification are real; the plan is the stand-in."""
    assert config.backend == "tensorrt"
    result = convert.convert_run(
        run_dir, out_dir, replace(config, backend="onnx-python")
    )
    (Path(out_dir) / "model.py").write_text(STANDIN.read_text())
    return {**result, "backend": "tensorrt"}


def standin_config(versions, num_witnesses, serving) -> str:
    """The real plan config with the python backend on CPU instead."""
    config = layout.parse_config(
        REAL_PLAN_CONFIG(versions, num_witnesses, serving)
    )
    assert config.platform == "tensorrt_plan"
    config.platform, config.backend = "", "python"
    config.instance_group[0].kind = mc.ModelInstanceGroup.KIND_CPU
    return text_format.MessageToString(config)


@pytest.fixture(scope="module")
def deployment(triton, tmp_path_factory):
    triton.clear()
    project = tmp_path_factory.mktemp("project")
    runs = {
        v: make_run(
            project / "train",
            1_000_000_000 + 512 * v,
            1_000_000_256 + 512 * v,
            v,
        )
        for v in (1, 2)
    }
    witness = simulated_witness(1_000_001_000, WINDOW_LENGTH, seed=7)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            export_process, "run_conversion", convert_without_tensorrt
        )
        patch.setattr(layout, "plan_config", standin_config)
        app = create_app(
            app_config(project, triton, backend="tensorrt", **SCHEME)
        )
        client = app.test_client()
        recorded = {"job1": export_run(client, runs[1].name)}
        recorded["null_production"] = infer(triton.grpc_url, witness)
        body = {"version": 1}
        client.post("/production", json=body, headers=AUTH)
        recorded["job2"] = export_run(client, runs[2].name)
        yield app, runs, witness, recorded
        service_of(app).close()


def assert_predicts(out: dict, name: str, run, witness) -> None:
    """``out[name]`` is utils.inference's kernels scheme on the network."""
    scheme = replace(SETTINGS, **SCHEME).inference_scheme()

    def torch_run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return run.model(torch.from_numpy(batch)).numpy()

    expected = predict(witness, torch_run, scheme)
    assert out[name].shape == (1, witness.shape[1])
    assert convert.relative_error(out[name][0], expected) <= BOUND
    assert np.all(out[name][0, :4000] == 0)  # incomplete before 1 s


def test_null_production_and_a_plan_canary(deployment, triton):
    app, runs, witness, recorded = deployment
    assert (recorded["job1"]["status"], recorded["job1"]["version"]) == (
        "done",
        1,
    )
    out = recorded["null_production"]
    assert int(out["PRODUCTION_VERSION"][0]) == 0
    assert not out["PRODUCTION"].any()
    assert int(out["CANARY_VERSION"][0]) == 1
    assert_predicts(out, "CANARY", runs[1], witness)


def test_production_and_canary_each_through_their_plan(deployment, triton):
    app, runs, witness, recorded = deployment
    assert recorded["job2"]["version"] == 2
    out = infer(triton.grpc_url, witness)
    assert [int(out[f"{n}_VERSION"][0]) for n in ("PRODUCTION", "CANARY")] == [
        1,
        2,
    ]
    assert_predicts(out, "PRODUCTION", runs[1], witness)
    assert_predicts(out, "CANARY", runs[2], witness)
    repo = triton.repo
    aggregate = layout.parse_config(
        (repo / AGGREGATE_MODEL_NAME / "config.pbtxt").read_text()
    )
    assert list(aggregate.version_policy.specific.versions) == [1, 2]
    listing = app.test_client().get("/versions").get_json()
    assert {row["backend"] for row in listing["versions"]} == {"tensorrt"}


def test_promotion_during_a_stream_switches_plan_versions(deployment, triton):
    app, runs, witness, recorded = deployment
    client = app.test_client()
    with Stream(triton.grpc_url, witness) as stream:
        for version in (2, 1):  # 1 is unloaded while 2 is production
            wait_for(lambda: len(stream.outcomes) > 0, "a response", 30.0)
            response = client.post(
                "/production", json={"version": version}, headers=AUTH
            )
            assert response.status_code == 200
            # the first response after it may have been asked before
            done = len(stream.outcomes)
            wait_for(
                lambda n=done: len(stream.outcomes) > n + 1,
                "responses after the promotion",
                30.0,
            )
    errors = [o for o in stream.outcomes if isinstance(o, Exception)]
    assert not errors, errors[:3]
    tags = [int(o["PRODUCTION_VERSION"][0]) for o in stream.outcomes]
    switches = [t for i, t in enumerate(tags) if i == 0 or t != tags[i - 1]]
    assert switches == [1, 2, 1]
    middle = next(
        o for o in stream.outcomes if o["PRODUCTION_VERSION"][0] == 2
    )
    assert_predicts(middle, "PRODUCTION", runs[2], witness)


def test_a_window_with_too_many_kernels_is_refused_by_name(deployment, triton):
    long_window = simulated_witness(1_000_002_000, 4, seed=7)
    with pytest.raises(InferenceServerException, match="inference_batch_size"):
        infer(triton.grpc_url, long_window)


def test_restarting_triton_reloads_plan_and_tagging_versions(
    deployment, triton
):
    app, runs, witness, recorded = deployment
    triton.restart()
    wait_for(
        lambda: app.test_client().get("/health").get_json()["pipeline_ready"],
        "pipeline ready after Triton restart",
        60.0,
        interval=0.2,
    )
    out = infer(triton.grpc_url, witness)
    assert int(out["PRODUCTION_VERSION"][0]) == 1
    assert int(out["CANARY_VERSION"][0]) == 2
    assert_predicts(out, "CANARY", runs[2], witness)

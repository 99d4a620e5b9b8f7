"""What the production profile's per-second inference costs on a GPU.

    PYTHONPATH=projects/trainer .venv/exporter/bin/python \\
        bench/bench_gpu.py [--calls 100] [--device cuda]

Any environment with CUDA torch and the packages of ``build.sh``'s
trainer and exporter environments will do (``--device cpu`` runs it on a
CPU, slowly; ``--batch`` shortens its agreement check there). Trains a
production-size network briefly on the simulator's scene (the
``[trainer-production]`` values, ``--train-duration`` s, ``--epochs``
epochs: realistic weights and scalers), then for the production scheme
(``[exporter-production]``: kernels of ``kernel_length`` s every ``1 /
inference_sampling_rate`` s, one call of ``inference_batch_size`` kernels
per ``[cleaner-production]`` window) prints:

- the agreement of each GPU arithmetic with the torch CPU network the
  exporter verifies against (max |error| / RMS on the largest call, the
  measure and bound of ``max_verification_error``): FP32, TF32 (what
  cuDNN, and TensorRT unless told otherwise, use for FP32 convolutions on
  Ampere and later) and FP16 (convolutions in FP16, scalers in FP32);
- the time of one call per stage, p50 / p99 over ``--calls`` calls, as
  Triton's ensemble makes it: cut the window into kernels (CPU, the
  python step), copy them to the GPU, the network, copy back, average the
  kernels (CPU, the python step), and the whole; GPU memory at its peak;
  and the memory of one forward at the TensorRT profile's optimal and
  largest shapes (``exporter.tensorrt_plan.PlanProfile``);
- where they are importable, the same call through ONNX Runtime's CUDA
  provider and through a TensorRT plan built by the exporter's own
  ``exporter.tensorrt_plan`` (what Triton's TensorRT backend serves).

Torch stands in for TensorRT where TensorRT is missing: the time of the
network in torch is an upper bound of a plan's, not the plan's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_trainer import ENVIRON
from bench_trainer import GPS_START
from bench_trainer import train_config
from exporter.config import ExporterSettings
from exporter.config import cleaner_settings
from exporter.convert import export_onnx
from exporter.convert import relative_error
from utils.config import parse_settings
from utils.inference import network_input
from utils.inference import noise_of_output
from utils.nn.data import Stretch
from utils.nn.simdata import simulate_stretch
from utils.nn.train import train
from utils.simulation import SimulationConfig
from utils.simulation import Simulator

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
ARITHMETICS = ("fp32", "tf32", "fp16")  # on CUDA; fp32 alone on CPU


def production() -> tuple[ExporterSettings, int]:
    """``[exporter-production]`` as the exporter reads it and the samples
    of the window of the cleaner that goes with it, checked as at the
    exporter's start-up."""
    argv = ["--typeo", f"{CONFIG}:exporter-production"]
    settings = parse_settings(ExporterSettings, "exporter", argv, ENVIRON)
    _, window = cleaner_settings(argv, ENVIRON)
    settings.check_window(window)
    length = window["inference_window_length"]
    return settings, int(round(length * settings.sample_rate))


def set_arithmetic(name: str) -> None:
    """FP32 or TF32 for cuDNN convolutions and matmuls (fp16: the model
    itself is cast)."""
    tf32 = name == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def gpu_runner(model: torch.nn.Module, device: str, arithmetic: str):
    """batch (n, C, size) float32 -> (n, size) float32 through ``model``
    on ``device``; returns the runner and its stage timer."""
    net = model.to(device).eval()
    # FP16 as TensorRT's FP16 mode runs it: convolutions in FP16, the
    # scalers (strain_std ~1e-20 is below FP16's range) and I/O in FP32
    half = torch.autocast("cuda", torch.float16, enabled=arithmetic == "fp16")
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else lambda: None
    stages: dict[str, list[float]] = {
        "to GPU": [],
        "network": [],
        "to CPU": [],
    }

    def run(batch: np.ndarray) -> np.ndarray:
        set_arithmetic(arithmetic)
        sync()
        t0 = time.perf_counter()
        x = torch.from_numpy(batch).to(device)
        sync()
        t1 = time.perf_counter()
        with torch.inference_mode(), half:
            y = net(x)
        sync()
        t2 = time.perf_counter()
        out = y.float().cpu().numpy()
        t3 = time.perf_counter()
        for name, seconds in zip(
            stages, (t1 - t0, t2 - t1, t3 - t2), strict=True
        ):
            stages[name].append(seconds)
        return out

    return run, stages


def percentiles(seconds: list[float]) -> str:
    ms = 1e3 * np.asarray(seconds)
    return f"{np.percentile(ms, 50):7.2f} / {np.percentile(ms, 99):7.2f}"


def time_calls(run, stages, witness, window, scheme, calls) -> None:
    """``calls`` calls, each on the next second's window, with the CPU
    stages around the runner; prints p50 / p99 per stage."""
    size = witness.shape[-1]
    cut, average, whole = [], [], []
    for i in range(calls + 3):  # 3 warm-up calls, not counted
        start = (i * scheme.sample_rate) % (size - window)
        t0 = time.perf_counter()
        batch = network_input(witness[:, start : start + window], scheme)
        t1 = time.perf_counter()
        output = run(batch)
        t2 = time.perf_counter()
        noise_of_output(output, window, scheme)
        t3 = time.perf_counter()
        if i >= 3:
            cut.append(t1 - t0)
            average.append(t3 - t2)
            whole.append(t3 - t0)
    for values in stages.values():
        del values[:3]
    rows = [("cut into kernels (CPU)", cut)]
    rows += [(name, values) for name, values in stages.items()]
    rows += [("average kernels (CPU)", average), ("whole call", whole)]
    for name, values in rows:
        print(f"    {name:24s} {percentiles(values)} ms")


def train_network(args, device: str) -> tuple[torch.nn.Module, np.ndarray]:
    """A production-size network trained briefly on ``device``, and
    simulated witnesses (C, samples) for the calls."""
    config, _ = train_config(
        "trainer-production", device=device, max_epochs=args.epochs
    )
    sim = Simulator(SimulationConfig(ifo="L1", seed=args.seed))
    span = args.train_duration + args.call_duration
    start = time.monotonic()
    data, _ = simulate_stretch(sim, GPS_START, span)
    cut = args.train_duration * 4096
    stretch = Stretch(
        GPS_START, 4096, data.witness[:, :cut], data.strain[:cut]
    )
    simulated = time.monotonic()
    result = train(stretch, config)
    print(
        f"simulated {span} s in {simulated - start:.0f} s; trained "
        f"{len(result.history)} epochs on {args.train_duration} s in "
        f"{time.monotonic() - simulated:.0f} s (valid loss "
        f"{result.initial_valid_loss:.3f} -> {result.best_valid_loss:.3f})"
    )
    return result.model.eval(), data.witness[:, cut:].astype(np.float32)


def profile_memory(model, settings: ExporterSettings, device: str) -> None:
    """GPU memory of one FP32 forward at the plan profile's optimal and
    largest input shapes (a TensorRT engine sizes its activation memory for
    the largest; torch's here is an estimate of it, not the engine's)."""
    profile = settings.export_config().plan_profile()
    _, opt, largest = profile.shapes(model.num_witnesses)
    set_arithmetic("fp32")
    net = model.to(device).eval()
    for name, shape in (("optimal", opt), ("largest", largest)):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            net(torch.zeros(shape, device=device))
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(f"    {name} {list(shape)}: {peak:.1f} GiB at peak")


def onnx_cuda(model, batch, settings: ExporterSettings, workdir: Path):
    """An ONNX Runtime CUDA runner of the exported graph, or why not."""
    try:
        import onnxruntime
    except ImportError as exc:
        return None, f"onnxruntime not importable ({exc})"
    providers = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        return None, f"no CUDAExecutionProvider in {providers}"
    path = workdir / "model.onnx"
    config = settings.export_config()
    export_onnx(model.cpu(), path, config, size=batch.shape[-1])
    session = onnxruntime.InferenceSession(
        str(path), providers=["CUDAExecutionProvider"]
    )
    return (lambda b: session.run(None, {"witness": b})[0]), ""


def tensorrt(model, batch, settings: ExporterSettings, workdir: Path):
    """A runner of a TensorRT plan built as the exporter builds it, or why
    not."""
    from exporter.tensorrt_plan import build_plan
    from exporter.tensorrt_plan import make_tensorrt_runner

    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return None, f"tensorrt not importable ({exc})"
    onnx_path, plan_path = workdir / "trt.onnx", workdir / "model.plan"
    config = settings.export_config()
    export_onnx(model.cpu(), onnx_path, config, size=batch.shape[-1])
    start = time.monotonic()
    build_plan(
        onnx_path, plan_path, model.num_witnesses, config.plan_profile()
    )
    print(f"    plan built in {time.monotonic() - start:.0f} s")
    return make_tensorrt_runner(plan_path), ""


def timed(run):
    """``run`` with its network stage timed (transfers inside it)."""
    stages: dict[str, list[float]] = {"network + transfers": []}

    def call(batch: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = np.asarray(run(batch))
        stages["network + transfers"].append(time.perf_counter() - t0)
        return out

    return call, stages


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--train-duration", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--call-duration", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="kernels of the agreement check (default: a whole "
        "production call; a CPU wants fewer)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device here (--device cpu runs it on CPU)")
        return 1
    settings, window = production()
    scheme = settings.inference_scheme()
    if args.device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name(args.device)}")
    print(
        f"torch {torch.__version__}; production scheme: {scheme.name}, "
        f"{scheme.kernel_length:g} s kernels at "
        f"{scheme.inference_sampling_rate:g} Hz, {window} samples per "
        f"window; {scheme.max_batch_size} kernels per call"
    )
    model, witness = train_network(args, args.device)
    batch = network_input(witness[:, :window], scheme)
    batch = batch[: args.batch or scheme.max_batch_size]
    mib = batch.nbytes / 2**20
    print(f"largest call: {list(batch.shape)} float32, {mib:.0f} MiB")
    with torch.inference_mode():
        reference = model.cpu()(torch.from_numpy(batch)).numpy()
        exact = model.double()(torch.from_numpy(batch).double()).numpy()
    model = model.float()
    arithmetics = ARITHMETICS if args.device.startswith("cuda") else ("fp32",)
    bound = settings.max_verification_error
    print(
        f"agreement with the torch CPU network (max |error| / RMS; "
        f"max_verification_error {bound:g}); CPU FP32 vs FP64: "
        f"{relative_error(reference, exact):.2e}"
    )
    for arithmetic in arithmetics:
        run, _ = gpu_runner(model, args.device, arithmetic)
        error = relative_error(run(batch), reference)
        verdict = "passes" if error <= bound else "FAILS"
        print(f"    {arithmetic}: {error:.2e} ({verdict})")
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    print(
        "one call per second of data, p50 / p99 over "
        f"{args.calls} calls (torch, stage by stage):"
    )
    for arithmetic in arithmetics:
        print(f"  torch {arithmetic}:")
        run, stages = gpu_runner(model, args.device, arithmetic)
        time_calls(run, stages, witness, window, scheme, args.calls)
    if args.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
        print(f"GPU memory at peak (torch allocator): {peak:.0f} MiB")
        print("one FP32 forward at the TensorRT profile's shapes (torch):")
        profile_memory(model, settings, args.device)
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (
            ("ONNX Runtime, CUDA provider", onnx_cuda),
            ("TensorRT plan (exporter.tensorrt_plan)", tensorrt),
        ):
            run, why = make(model, batch, settings, Path(tmp))
            if run is None:
                print(f"  {name}: not measured: {why}")
                continue
            error = relative_error(np.asarray(run(batch)), reference)
            print(f"  {name}: agreement {error:.2e} (bound {bound:g})")
            run, stages = timed(run)
            time_calls(run, stages, witness, window, scheme, args.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())

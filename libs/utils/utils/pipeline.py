"""The Triton pipeline between the exporter and the cleaner
(docs/architecture.md, "Triton pipeline"): the ensemble the exporter
builds and serves, the cleaner calls, and the tensors it takes and gives.
One home for the names both sides must agree on, and for those the steps
pass each other inside the ensemble, which the exporter's layout and the
model files it copies into the repository (run by Triton, where the
exporter's package is not) must agree on.
"""

from __future__ import annotations

PIPELINE_NAME = "deepclean-pipeline"
# the model repository's layout, which the exporter writes and the
# reprocessing reads: <repo>/<MODEL_NAME>/{CONFIG_FILE, <version>/...}
MODEL_NAME = "deepclean"  # the model of every exported version
CONFIG_FILE = "config.pbtxt"  # a model's Triton configuration
VERSION_FILE = "version.json"  # a version's record: its run, channels
FILE_OF_BACKEND = {"onnx-python": "model.onnx", "tensorrt": "model.plan"}
WITNESS = "WITNESS"  # input FP32 [1, num_witnesses, size]: raw witnesses
PRODUCTION = "PRODUCTION"  # output FP32 [1, size]: production's noise
CANARY = "CANARY"  # output FP32 [1, size]: the canary's noise
BRANCHES = (PRODUCTION, CANARY)


def version_output(branch: str) -> str:
    """The INT64 ``[1]`` output of the version behind ``branch`` (0: no
    model yet)."""
    return f"{branch}_VERSION"


OUTPUTS = (*BRANCHES, *(version_output(b) for b in BRANCHES))

# inside the ensemble: each step's own tensors
NOISE = "NOISE"  # FP32 [1, size]: a step's noise prediction of the window
VERSION = "VERSION"  # INT64 [1]: the version behind it
KERNELS = "KERNELS"  # FP32 [kernels, ...]: the window's kernels, one batch
KERNEL_NOISE = "KERNEL_NOISE"  # FP32 [kernels, size]: the plan's output
WINDOW_SIZE = "WINDOW_SIZE"  # INT64 [1]: samples of the window

"""The Triton pipeline between the exporter and the cleaner
(docs/architecture.md, "Triton pipeline"): the ensemble the exporter
builds and serves, the cleaner calls, and the tensors it takes and gives.
One home for the names both sides must agree on; what the exporter's
steps pass each other inside the ensemble is the exporter's own.
"""

from __future__ import annotations

PIPELINE_NAME = "deepclean-pipeline"
WITNESS = "WITNESS"  # input FP32 [1, num_witnesses, size]: raw witnesses
PRODUCTION = "PRODUCTION"  # output FP32 [1, size]: production's noise
CANARY = "CANARY"  # output FP32 [1, size]: the canary's noise
BRANCHES = (PRODUCTION, CANARY)


def version_output(branch: str) -> str:
    """The INT64 ``[1]`` output of the version behind ``branch`` (0: no
    model yet)."""
    return f"{branch}_VERSION"


OUTPUTS = (*BRANCHES, *(version_output(b) for b in BRANCHES))

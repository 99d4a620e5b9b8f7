"""Test-only Triton python model standing in for ``deepclean-pipeline``.

It has the inputs and outputs of the exporter's ensemble
(docs/architecture.md) but no trained network (none can be trained in a
unit test): the noise prediction is a least-squares regression of strain on
the witness features ``m(t)`` and ``m(t) * asc_i(t)`` (``regression.py``),
fitted by the test on simulated data and stored next to this file as
``coefficients.npy``. The simulated mains line and its bilinear sidebands
are such products, so the regression removes them, as DeepClean would.
Like a convolutional network with zero padding, it is wrong near the window
edges (faded to zero over ``edge_length`` s), so a client that kept those
samples would clean badly.

Parameters (``config.pbtxt``): production_version and canary_version (0:
no model, the prediction is zeros, like ``deepclean-null``), canary_gain
(the canary predicts that times production's noise), sample_rate,
edge_length.
"""

import json
import sys
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
import regression


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {
            k: v["string_value"] for k, v in config["parameters"].items()
        }
        self.production_version = int(params["production_version"])
        self.canary_version = int(params["canary_version"])
        self.canary_gain = float(params["canary_gain"])
        rate = float(params["sample_rate"])
        self.edge_size = int(round(float(params["edge_length"]) * rate))
        here = Path(__file__).resolve().parent
        self.coefficients = np.load(here / "coefficients.npy")

    def execute(self, requests):
        responses = []
        for request in requests:
            witness = pb_utils.get_input_tensor_by_name(request, "WITNESS")
            noise = regression.predict(
                self.coefficients, witness.as_numpy()[0], self.edge_size
            )
            production = noise * (self.production_version > 0)
            canary = noise * self.canary_gain * (self.canary_version > 0)
            outputs = {
                "PRODUCTION": production[None].astype(np.float32),
                "CANARY": canary[None].astype(np.float32),
                "PRODUCTION_VERSION": np.array(
                    [self.production_version], np.int64
                ),
                "CANARY_VERSION": np.array([self.canary_version], np.int64),
            }
            responses.append(
                pb_utils.InferenceResponse(
                    [pb_utils.Tensor(k, v) for k, v in outputs.items()]
                )
            )
        return responses

"""Parse a service's settings as the service would, and print them.

    .venv/<svc>/bin/python scripts/check_settings.py SERVICE FILE:SECTION

Run in the service's own environment (``run.sh NAME render`` does, for
each service of a run): builds ``<svc>.config.<Svc>Settings`` from the
section (its profile laid over its base section, every reference
resolved, every value validated) without starting anything. Prints one
line ``ok: key=value ...`` and exits 0, or ``ERROR: ...`` and exits 2.
"""

import dataclasses
import importlib
import sys

from utils.config import parse_settings
from utils.errors import ConfigError


def main(argv: list[str]) -> int:
    """Check ``SERVICE FILE:SECTION``; see the module docstring."""
    service, spec = argv
    module = importlib.import_module(f"{service}.config")
    cls = getattr(module, f"{service.capitalize()}Settings")
    try:
        settings = parse_settings(cls, service, ["--typeo", spec], None)
    except ConfigError as exc:
        print(f"ERROR: [{spec}] {exc}")
        return 2
    values = dataclasses.asdict(settings)
    channels = values.pop("witness_channels", None)
    if channels is not None:
        values["witness_channels"] = f"<{len(channels)} channels>"
    print("ok: " + " ".join(f"{k}={v}" for k, v in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

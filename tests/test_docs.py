"""What the documentation claims about the tree, checked against it.

An operator reads the READMEs and ``docs/architecture.md``, not the code,
so a claim that went stale is a wrong instruction. Each claim that names
something checkable is checked here:

- every relative link, and every repository path cited in backticks,
  exists (from the root, the document's folder or a project's);
  runtime paths are cited from ``$PROJECT_DIR`` and are not checked;
- every test cited by name (``test_the_gate_opens``, ``test_nn_*``) is
  defined in a test file;
- every ``--flag`` cited is one a script reads (argparse, run.sh) or a
  setting some settings class holds (typeo's ``--name`` of ``name``);
- every setting cited with its value ("`gate_margin` (1 %)") holds that
  value in some section of the root ``pyproject.toml``, and each port of
  the architecture's table is the default the services are configured
  with;
- nothing cites a document that users do not have (``DESIGN.md``).

Each check also counts what it found, so a pattern that stopped matching
the documents fails instead of passing on nothing. What it cannot see: a
backticked name that is no setting is passed over (fields, metrics), so
a renamed setting's old name in a document goes unnoticed here.
"""

from __future__ import annotations

import re
import subprocess
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Iterable

import pytest

from utils.config import read_tables
from utils.config import section_values
from utils.config import value_of
from utils.settings_checks import ENVIRON as RUN_ENVIRON

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
GIT_TIMEOUT = 30.0  # s for `git ls-files`
# flags the documents cite that are not this tree's to read: a placeholder
# ("[--flag value ...]") and pip's, in the Triton image's Dockerfile
NOT_OURS = {"--flag", "--no-cache-dir"}
# what run.sh exports, which the sections refer to
ENVIRON = {**RUN_ENVIRON, "ARCHIVE_DIR": "/nonexistent/archive"}
# a cited value in a unit the settings are not kept in (fractions, s);
# scaled to theirs
SCALES = {"%": 0.01, "ms": 1e-3, "min": 60.0, "h": 3600.0}


@cache
def tracked() -> tuple[str, ...]:
    """The files git tracks (the tree a fresh clone has)."""
    done = subprocess.run(
        ["git", "ls-files", "-z"],
        cwd=ROOT,
        capture_output=True,
        timeout=GIT_TIMEOUT,
        check=True,
    )
    return tuple(done.stdout.decode().split("\0")[:-1])


def documents() -> list[str]:
    return [name for name in tracked() if name.endswith(".md")]


def is_test(name: str) -> bool:
    return "tests/" in name or Path(name).name.startswith("test_")


def joined(names: Iterable[str]) -> str:
    """The texts of the tracked files ``names``, one text."""
    return "\n".join((ROOT / n).read_text(errors="replace") for n in names)


@cache
def source_text() -> str:
    """Every tracked Python and shell file that is not a test, one text
    (tests pass flags; they do not read them)."""
    return joined(
        n for n in tracked() if n.endswith((".py", ".sh")) and not is_test(n)
    )


@cache
def settings_text() -> str:
    """The settings classes' modules (typeo's flags are their fields)."""
    return joined(
        n
        for n in tracked()
        if fnmatch(n, "projects/*/*/config.py")
        or n == "libs/utils/utils/fields.py"
    )


def text_of(document: str) -> str:
    return (ROOT / document).read_text()


def project_of(document: str) -> str | None:
    """``projects/X`` of a document inside it."""
    parts = Path(document).parts
    if len(parts) > 2 and parts[0] == "projects":
        return f"{parts[0]}/{parts[1]}"
    return None


def bases(document: str) -> list[Path]:
    """Where a path a document cites may start: the repository's root,
    the document's folder, and a project's folder ("each service's
    ``tests/test_config.py``")."""
    return [ROOT, (ROOT / document).parent, *(ROOT / "projects").iterdir()]


def exists(document: str, path: str) -> bool:
    return any((base / path).exists() for base in bases(document))


# -- links and paths -----------------------------------------------------

LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
CITED = re.compile(r"`([A-Za-z0-9_.\-]+/[A-Za-z0-9_./\-]*)`")


def cited_paths(document: str) -> list[str]:
    """The backticked paths of ``document`` that name something of this
    repository: those starting with a folder or file it tracks at the top
    of the root or of the document's project (runtime paths such as
    ``carousel/...``, ``$PROJECT_DIR/monitor/...`` are not in the tree)."""
    tops = {name.split("/")[0] for name in tracked()}
    project = project_of(document)
    if project is not None:  # its own folders (tests/, cleaner/ ...)
        tops |= {
            name[len(project) + 1 :].split("/")[0]
            for name in tracked()
            if name.startswith(project + "/")
        }
    return [
        path.rstrip("/")
        for path in CITED.findall(text_of(document))
        if path.split("/")[0] in tops
    ]


def test_links_and_cited_paths_exist():
    missing, seen = [], 0
    for document in documents():
        text = text_of(document)
        links = [
            link
            for link in LINK.findall(text)
            if not re.match(r"[a-z]+:", link)  # http:, mailto:
        ]
        for path in links + cited_paths(document):
            seen += 1
            if not exists(document, path):
                missing.append(f"{document}: {path}")
    assert missing == []
    assert seen >= 20  # the patterns still match the documents


# -- tests cited by name -------------------------------------------------

TEST_NAME = re.compile(r"(?<![\w/])(test_[a-z0-9_]+\*?)")


def defined_tests() -> set[str]:
    """Every test function and test module of the tree."""
    names = set()
    for name in tracked():
        if not name.endswith(".py"):
            continue
        path = Path(name)
        if path.stem.startswith("test_"):
            names.add(path.stem)
        text = (ROOT / name).read_text(errors="replace")
        names |= set(re.findall(r"^\s*def (test_\w+)\(", text, re.M))
    return names


def test_every_cited_test_is_defined():
    defined = defined_tests()
    missing, seen = [], 0
    for document in documents():
        for cited in set(TEST_NAME.findall(text_of(document))):
            seen += 1
            pattern = cited if cited.endswith("*") else None
            if pattern and any(fnmatch(n, pattern) for n in defined):
                continue
            if cited not in defined:
                missing.append(f"{document}: {cited}")
    assert missing == []
    assert seen >= 10


# -- flags ---------------------------------------------------------------

FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*[a-z0-9])\b")


def is_read(flag: str) -> bool:
    """Whether the tree's code passes or reads ``flag`` (argparse, run.sh,
    the commands Triton's scripts run) or a settings dataclass has its
    field (``--max-epochs``: ``max_epochs:``), which typeo turns into that
    flag."""
    field = flag[2:].replace("-", "_")
    written = rf"(?<![\w-]){re.escape(flag)}(?![\w-])"
    declared = rf"^    {field}:"  # a field of a settings class
    return bool(
        re.search(written, source_text())
        or re.search(declared, settings_text(), re.M)
    )


def test_every_cited_flag_is_read():
    missing, seen = [], set()
    for document in documents():
        for flag in set(FLAG.findall(text_of(document))):
            seen.add(flag)
            if flag not in NOT_OURS and not is_read(flag):
                missing.append(f"{document}: {flag}")
    assert missing == []
    assert len(seen) >= 20


def test_the_flag_check_sees_a_flag_nothing_reads():
    assert is_read("--model-source") and is_read("--dry-run")
    assert is_read("--health-frame-age")  # MonitorSettings.health_frame_age
    assert not is_read("--frame-age")  # HealthConfig's, not a setting
    assert not is_read("--no-such-flag-anywhere")


# -- settings cited with their values -------------------------------------

# a whole number (not "1" of "1,000"), with its exponent
NUMBER = r"(-?[0-9]+(?:\.[0-9]+)?(?:[eE]-?[0-9]+)?)(?![0-9.,])"
NAME = r"`([a-z][a-z0-9_]*)`"
# "`gate_margin` (1 %)", "`window_length` (100 s by default, ...)"
SETTING = re.compile(rf"{NAME}\s*\({NUMBER}(?!\s*–)\s*(%|ms\b|min\b|h\b)?")
# "`freq_low`–`freq_high` (58–62 Hz)"
RANGE = re.compile(rf"{NAME}–{NAME}\s*\({NUMBER}–{NUMBER}")


def cited_values(text: str) -> list[tuple[str, str, str]]:
    """``(setting, number, unit)`` of each value a text cites."""
    found = SETTING.findall(text)
    for low, high, low_value, high_value in RANGE.findall(text):
        found += [(low, low_value, ""), (high, high_value, "")]
    return found


@cache
def values_of_settings() -> dict[str, set[float]]:
    """Each setting of the root pyproject.toml -> its numeric values over
    every section (base and profiles, references resolved)."""
    values: dict[str, set[float]] = {}
    for section in read_tables(PYPROJECT)[1]:
        for key, value in section_values(PYPROJECT, section, ENVIRON).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.setdefault(key, set()).add(float(value))
    return values


def holds(name: str, number: str, unit: str) -> bool:
    cited = float(number) * SCALES.get(unit, 1.0)
    return any(
        abs(value - cited) <= 1e-9 * max(1.0, abs(cited))
        for value in values_of_settings()[name]
    )


def test_every_setting_cited_with_a_value_holds_it():
    known = values_of_settings()
    wrong, seen = [], 0
    for document in documents():
        for name, number, unit in cited_values(text_of(document)):
            if name not in known:
                continue  # not a setting (a field, a metric label...)
            seen += 1
            if not holds(name, number, unit):
                values = sorted(known[name])
                wrong.append(f"{document}: {name} ({number} {unit}): {values}")
    assert wrong == []
    assert seen >= 15


def test_the_value_check_sees_a_wrong_value():
    name = next(iter(values_of_settings()))
    value = max(values_of_settings()[name])
    assert holds(name, repr(value), "")
    assert not holds(name, repr(value + 1.5), "")
    # units and forms it reads, and those it leaves alone
    text = (
        "`a` (2 min) `b` (1e-3) `c` (1,000 s) `d` (5 %) `e` (0.25 Hz) "
        "`f`–`g` (58–62 Hz)"
    )
    assert cited_values(text) == [
        ("a", "2", "min"),
        ("b", "1e-3", ""),
        ("d", "5", "%"),
        ("e", "0.25", ""),
        ("f", "58", ""),
        ("g", "62", ""),
    ]


# -- the ports of docs/architecture.md -------------------------------------

# (process, what the table calls a port) -> its key in pyproject.toml;
# any other "metrics N" is "<process>.metrics_port"
PORT_KEYS = {
    ("triton", "HTTP"): "base.triton_http_port",
    ("triton", "gRPC"): "base.triton_grpc_port",
    ("triton", "metrics"): "base.triton_metrics_port",
    ("exporter", "HTTP"): "exporter.port",
    ("monitor", "status page"): "monitor.status_port",
}


def port_table() -> list[tuple[str, str, int]]:
    """``(process, port's name, number)`` of each port in the table of
    "Processes and ports" in docs/architecture.md."""
    text = text_of("docs/architecture.md").split("## Processes and ports")[1]
    rows = []
    for line in text.split("\n## ")[0].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.search(r"[0-9]{4}", cells[2]):
            continue  # not a row of ports (header, separator, prose)
        process = cells[0].split()[0].lower()
        for port in cells[2].split(","):
            name, number = port.strip().rsplit(" ", 1)
            rows.append((process, name, int(number)))
    return rows


def test_the_architecture_ports_are_the_configured_defaults():
    rows = port_table()
    assert len(rows) >= 10  # every process's ports
    for process, name, number in rows:
        key = PORT_KEYS.get((process, name))
        if key is None:
            assert name == "metrics", f"{process}'s {name}: no key known"
            key = f"{process}.metrics_port"
        assert int(value_of(PYPROJECT, key, ENVIRON)) == number, key


# -- documents users do not have -----------------------------------------


@pytest.mark.parametrize("missing", ["DESIGN.md"])
def test_nothing_cites_a_document_users_do_not_have(missing):
    assert not any(Path(name).name == missing for name in tracked())
    citing = [
        name
        for name in tracked()
        if (ROOT / name).is_file()
        and missing in (ROOT / name).read_text(errors="replace")
        and name != "tests/test_docs.py"  # names what it looks for
    ]
    assert citing == []

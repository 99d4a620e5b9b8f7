"""Checks of a service's settings, shared by every ``tests/test_config.py``
(and the settings the tests build their components from).

Each service's tests state only their own specifics (the settings class,
its sub-configs, the values they keep in code, what each profile means);
the mechanisms are here:

- :func:`settings_loader`: ``<svc> --typeo pyproject.toml:<section>``
  without running it, with the environment run.sh exports;
- :func:`profiles`: the sections of a service (``cleaner``,
  ``cleaner-production`` ...);
- :func:`home_problems`: where a value would have a second home;
- :func:`changed_settings`: what a profile changes;
- :func:`help_problems`: ``<svc> --help`` lists and describes every field;
- :func:`help_text`: ``<svc> --help`` (the console script:
  :func:`utils.testing.run_script`; start-up must fail fast on a bad
  setting, in the environment of :func:`utils.testing.service_environ`).

Each check returns what it found wrong (empty: nothing), for the test to
assert ``== []`` and show. :class:`SettingsContract` holds the tests every
service runs with them; a service's ``tests/test_config.py`` subclasses it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from utils.config import audit
from utils.config import parse_settings
from utils.config import read_tables
from utils.fields import ProjectFields
from utils.testing import REPO_ROOT
from utils.testing import run_script

T = TypeVar("T")
PYPROJECT = REPO_ROOT / "pyproject.toml"
# what run.sh exports; the folders are replaced by each test that uses them
ENVIRON = {
    "IFO": "L1",
    "PROJECT_DIR": "/nonexistent/project",
    "DATA_DIR": "/nonexistent/data",
}
MIN_HELP_LENGTH = 30  # characters of a field's --help, default included


def settings_loader(
    cls: type[T], prog: str, environ: Mapping[str, str] = ENVIRON
) -> Callable[..., T]:
    """A service's ``load_settings(section=prog, *flags, path=PYPROJECT,
    **values)``: ``<prog> --typeo <path>:<section> <flags>`` without
    running it, each of ``values`` given as one more flag."""

    def load_settings(
        section: str = prog, *flags: str, path: Path = PYPROJECT, **values
    ) -> T:
        argv = ["--typeo", f"{path}:{section}", *flags]
        for key, value in values.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        return parse_settings(cls, prog, argv, environ=environ)

    return load_settings


def profiles(prog: str, path: Path = PYPROJECT) -> list[str]:
    """``[prog]`` and its profile sections ``[prog-*]``, sorted."""
    return sorted(
        name
        for name in read_tables(path)[1]
        if name == prog or name.startswith(f"{prog}-")
    )


def defaults(cls: type) -> set[str]:
    """The fields of the dataclass ``cls`` that have a default in code."""
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING
        or f.default_factory is not dataclasses.MISSING
    }


def home_problems(
    cls: type,
    section: str,
    components: Mapping[type, set[str]],
    probe: tuple[str, Any],
    path: Path = PYPROJECT,
) -> list[str]:
    """Where a value of ``[section]`` would have a second home.

    Args:
        cls: the settings class.
        components: each sub-config of ``cls`` -> its fields that have a
            default in code (their one home: no key of the section); any
            other default is a problem. The audit matches names, so this
            also holds fields named otherwise than their setting.
        probe: ``(setting, value)``: a default for that setting, added to a
            component, must be seen by the audit (the check checked).

    Returns:
        :func:`utils.config.audit`'s lines, then one per component whose
        defaults are not those listed, then one if the probe is missed.
    """
    problems = audit(cls, path, section, tuple(components))
    for component, allowed in components.items():
        found = defaults(component)
        if found != allowed:
            problems.append(
                f"{component.__name__} has defaults for {sorted(found)}, "
                f"not {sorted(allowed)}"
            )
    name, value = probe
    default = dataclasses.field(default=value)
    probe_cls = dataclasses.make_dataclass(
        "Probe", [(name, type(value), default)]
    )
    seen = audit(cls, path, section, (probe_cls,))
    wanted = f"Probe.{name} has a default in code; its home is [{section}]"
    if seen != [wanted]:
        problems.append(f"the audit misses a default for {name}: {seen}")
    return problems


def changed_settings(before: object, after: object) -> dict[str, Any]:
    """The fields of the settings ``after`` that differ from ``before``,
    with their values in ``after``."""
    return {
        f.name: getattr(after, f.name)
        for f in dataclasses.fields(before)
        if getattr(after, f.name) != getattr(before, f.name)
    }


@functools.cache
def help_text(prog: str) -> str:
    """``prog --help``, white space folded (run once per process).

    Raises:
        RuntimeError: it failed (with its stderr).
    """
    done = run_script(prog, "--help")
    if done.returncode != 0:
        raise RuntimeError(
            f"{prog} --help exited {done.returncode}: {done.stderr}"
        )
    return " ".join(done.stdout.split())


def help_problems(cls: type, text: str) -> list[str]:
    """Every field of the settings class ``cls`` is a flag of the
    ``--help`` ``text`` (:func:`help_text`), described (more than
    :data:`MIN_HELP_LENGTH` characters) with its default."""
    problems = []
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        # the usage line, then the list of options: the last place
        exact = re.escape(flag) + r"(?![\w-])"
        places = [m.end() for m in re.finditer(exact, text)]
        if not places:
            problems.append(f"{flag} is not listed")
            continue
        help_of = text[places[-1] :].split("--", 1)[0]
        if "(default" not in help_of or len(help_of) <= MIN_HELP_LENGTH:
            problems.append(f"{flag} is not described: {help_of!r}")
    return problems


class SettingsContract:
    """The tests every service's settings pass: each value has one home
    (:func:`home_problems`), ``<prog> --help`` documents every setting
    (:func:`help_problems`), the named profile sections exist, and every
    section of the service (:func:`profiles`) parses, with the project
    folder run.sh exports, into settings that pass :meth:`check_profile`.

    A service's ``tests/test_config.py`` subclasses it as ``TestSettings``
    (pytest collects the inherited tests), sets the attributes below and
    states what each profile must mean in :meth:`check_profile`.

    Attributes:
        settings: the settings class.
        prog: the console script, also the name of its section.
        components: :func:`home_problems`' ``components``.
        probe: :func:`home_problems`' ``probe``.
        sections: the profile sections that must exist.
        environ: what run.sh exports (:data:`ENVIRON` by default).
        values: settings each section is loaded with (those no section
            can give, such as a span to reprocess).
        override: ``(setting, text, value)``: ``--setting text`` after the
            file (in its production profile, where there is one) changes
            that setting alone, to ``value``.
    """

    settings: type
    prog: str
    components: Mapping[type, set[str]]
    probe: tuple[str, Any]
    sections: set[str]
    environ: Mapping[str, str] = ENVIRON
    values: Mapping[str, Any] = {}
    override: tuple[str, str, Any]

    def pytest_generate_tests(self, metafunc: Any) -> None:
        """``section``: each of the service's sections, one test each."""
        if "section" in metafunc.fixturenames:
            metafunc.parametrize("section", profiles(self.prog))

    def check_profile(self, section: str, settings: Any) -> None:
        """What the service asserts of ``section``'s settings (override)."""

    def library_configs(self, settings: Any) -> list[Any]:
        """The configs of ``libs/utils`` the service builds from
        ``settings`` with ``sub_config(..., defaults=False)``, as it builds
        them (override where there are any): their code defaults serve
        tests and benchmarks, and must be what ``[prog]`` sets."""
        return []

    def test_every_profile_parses(self, section: str) -> None:
        load = settings_loader(self.settings, self.prog, self.environ)
        settings = load(section, **self.values)
        if isinstance(settings, ProjectFields):
            project_dir = Path(self.environ["PROJECT_DIR"])
            assert settings.project_dir == project_dir
        self.check_profile(section, settings)

    def test_every_value_has_one_home(self) -> None:
        args = (self.settings, self.prog, self.components, self.probe)
        assert home_problems(*args) == []

    def test_later_flags_override_the_file(self) -> None:
        name, text, value = self.override
        production = f"{self.prog}-production"
        section = production if production in self.sections else self.prog
        load = settings_loader(self.settings, self.prog, self.environ)
        before = load(section, **self.values)
        flag = "--" + name.replace("_", "-")
        after = load(section, flag, text, **self.values)
        assert changed_settings(before, after) == {name: value}

    def test_library_defaults_are_the_base_section(self) -> None:
        """A test or benchmark built on a library config's code defaults
        sees what the service does; a value edited in only one of the two
        places fails here."""
        load = settings_loader(self.settings, self.prog, self.environ)
        for config in self.library_configs(load(self.prog, **self.values)):
            differ = changed_settings(type(config)(), config)
            assert differ == {}, f"{type(config).__name__}: code defaults"

    def test_there_are_profiles(self) -> None:
        assert self.sections <= set(profiles(self.prog))

    def test_help_documents_every_setting(self) -> None:
        text = help_text(self.prog)
        assert help_problems(self.settings, text) == []

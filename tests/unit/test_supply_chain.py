"""Dependencies: floors above known advisories, and lock files that the README installs with."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements.lock", "requirements-dev.lock")
# The first release past each published advisory.
SAFE = {"werkzeug": "3.0.6", "cryptography": "42.0.4", "h11": "0.16.0", "jinja2": "3.1.6"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _locked(name: str) -> dict[str, tuple[Version, list[str]]]:
    """{package: (version, hashes)} of a lock file; every entry must be an exact pin."""
    entries: list[list[str]] = []
    for line in (ROOT / name).read_text().splitlines():
        if line.strip() and not line.startswith(("#", " ")):
            entries.append([line])
        elif entries and line.startswith(" "):
            entries[-1].append(line)
    locked = {}
    for lines in entries:
        first = lines[0].split()[0]
        assert "==" in first, f"{name}: {first} is not pinned exactly"
        package, version = first.split("==")
        locked[canonicalize_name(package)] = (
            Version(version), re.findall(r"--hash=sha256:([0-9a-f]{64})", "\n".join(lines)))
    return locked


@pytest.mark.parametrize("lock", LOCKS)
def test_each_lock_pins_every_package_exactly_with_its_hashes(lock):
    locked = _locked(lock)
    assert len(locked) > 20
    for package, (_, hashes) in locked.items():
        assert hashes, f"{lock}: {package} has no hash"
    assert "--index-url" not in (ROOT / lock).read_text()  # no machine's own index in it


def test_the_locks_cover_the_project_and_agree_with_each_other():
    runtime, dev = _locked("requirements.lock"), _locked("requirements-dev.lock")
    project = _project()
    wanted = [Requirement(spec) for spec in project["dependencies"]]
    wanted_dev = wanted + [Requirement(spec)
                           for spec in project["optional-dependencies"]["dev"]]
    for requirements, locked in ((wanted, runtime), (wanted_dev, dev)):
        for requirement in requirements:
            version = locked[canonicalize_name(requirement.name)][0]
            assert requirement.specifier.contains(version), (requirement, version)
    for package, (version, _) in runtime.items():
        assert dev[package][0] == version, package


def test_floors_and_locked_versions_are_above_releases_with_advisories():
    floors = {canonicalize_name(Requirement(spec).name): Requirement(spec).specifier
              for spec in _project()["dependencies"]}
    for lock in LOCKS:
        locked = _locked(lock)
        for package, safe in SAFE.items():
            assert locked[package][0] >= Version(safe), (lock, package)
    for package, safe in SAFE.items():
        below = Version(safe).release[:-1] + (Version(safe).release[-1] - 1,)
        assert not floors[package].contains(".".join(map(str, below))), package


def test_the_readme_installs_with_the_locks_and_ci_runs_its_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(python3 -m venv .*)\n```", readme)
    assert len(commands) == 2
    service, tests = commands
    assert "pip install -r requirements.lock " in service and service.endswith("scripts/boot.sh")
    assert "pip install -r requirements-dev.lock " in tests and "--no-deps -e ." in tests
    ci_last_line = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    assert ci_last_line == tests


def test_the_installed_packages_are_the_locked_versions():
    for package, (version, _) in _locked("requirements-dev.lock").items():
        assert Version(metadata.version(package)) == version, package

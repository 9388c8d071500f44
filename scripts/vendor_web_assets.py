"""Fetch the web console's browser assets once from the npm registry, at pinned versions.

Each package is fetched with `npm pack <name>@<version>`; its one dist file, its licence, its
version and the file's SHA-256 land in app/static/vendor/<name>/. The results are committed:
nothing is fetched at build or run time. Re-run only to change a version, then commit the diff.

    python scripts/vendor_web_assets.py
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "app" / "static" / "vendor"
# (package, pinned version, file inside the package, name it gets here)
ASSETS = [
    ("htmx.org", "2.0.4", "dist/htmx.min.js", "htmx.min.js"),
    ("chart.js", "4.4.7", "dist/chart.umd.js", "chart.umd.js"),
]


def vendor(package: str, version: str, source: str, name: str, work: Path) -> None:
    packed = subprocess.run(["npm", "pack", "--silent", f"{package}@{version}"], cwd=work,
                            check=True, capture_output=True, text=True).stdout.split()[-1]
    unpacked = work / package
    with tarfile.open(work / packed) as archive:
        archive.extractall(unpacked, filter="data")
    target = VENDOR / package
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(unpacked / "package" / source, target / name)
    licence = next((unpacked / "package").glob("LICEN[CS]E*"))
    shutil.copyfile(licence, target / "LICENSE")
    (target / "VERSION").write_text(f"{package}@{version}\n")
    digest = hashlib.sha256((target / name).read_bytes()).hexdigest()
    (target / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    print(f"vendored {package}@{version} -> {target.relative_to(ROOT)}/{name}")


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        for asset in ASSETS:
            vendor(*asset, Path(work))


if __name__ == "__main__":
    main()

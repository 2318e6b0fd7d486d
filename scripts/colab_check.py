"""The book on Colab's own stack (issue 28; README, "Open a chapter in Colab"): `make colab-test`.

Builds a Python 3.13 environment holding exactly the versions of constraints/colab.txt (Colab's runtime),
builds the wheel of this checkout and installs it as the notebooks' first cell does (plain `pip install`, so
pip keeps what is installed wherever it can), checks that doing so changed none of the environment's
packages, then runs every notebook on that environment's kernel, each from its own empty folder with an empty
home (a Colab notebook has its own empty cache), at `smoke` unless told otherwise. Prints a report and exits
non-zero when a notebook fails or a package changed. Run it with the build environment's Python (it needs
nbclient), from the repository root:

    .venv/bin/python -m scripts.colab_check [--python PYTHON3.13] [--scale smoke] [NOTEBOOK ...]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging.utils import canonicalize_name

from scripts.pin_build_stack import read as read_pins
from skiplessons.env import SCALES

ROOT = Path(__file__).resolve().parents[1]
COLAB = ROOT / "constraints" / "colab.txt"
#: what `shutil.copytree` leaves out when the wheel is built from a copy (setuptools writes beside the sources)
NOT_IN_WHEEL = (".git", ".venv*", "build", "_build", "results", "*.egg-info", "__pycache__", "book", "tests",
                "bench")


def colab_pins() -> dict[str, str]:
    """{canonical name: version} of Colab's packages as constraints/colab.txt lists them."""
    return read_pins(COLAB)


def find_python(version: str = "3.13") -> str:
    """A Python `version` interpreter: `pythonX.Y` on PATH when it runs, else a pyenv installation of it."""
    candidates = [shutil.which(f"python{version}") or ""] + sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")), reverse=True)
    for exe in filter(None, candidates):
        done = subprocess.run([exe, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip() == str(tuple(map(int, version.split(".")))):
            return exe
    raise SystemExit(f"colab_check: no Python {version} found (tried {candidates}); pass --python")


def installed(python: str) -> dict[str, str]:
    """{canonical name: version} of every package in `python`'s environment."""
    out = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    return {canonicalize_name(p["name"]): p["version"] for p in json.loads(out.stdout)}


def changes(report: dict, before: dict[str, str]) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """From a `pip install --dry-run --report` answer: the packages it would change ({name: (before, after)})
    and those it would add ({name: version}), given what is installed (`before`)."""
    changed, added = {}, {}
    for item in report["install"]:
        name, version = canonicalize_name(item["metadata"]["name"]), item["metadata"]["version"]
        if name in before:
            changed[name] = (before[name], version)
        else:
            added[name] = version
    return changed, added


def colab_env(python: str, venv: Path) -> str:
    """The environment of constraints/colab.txt in `venv` and nothing else: made once (remade when a pin
    changes or a package moved), and reset on reuse to the packages it was made with, which are recorded."""
    stamp, made, exe = venv / ".colab-pins.json", venv / ".colab-packages.json", venv / "bin" / "python"
    pins = json.dumps(colab_pins(), sort_keys=True)
    if not (stamp.is_file() and stamp.read_text() == pins and made.is_file() and exe.is_file()):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        start = time.time()
        subprocess.run([str(exe), "-m", "pip", "install", "-q", "-r", str(COLAB)], check=True)
        print(f"colab_check: Colab's packages installed in {time.time() - start:.0f} s")
        made.write_text(json.dumps(installed(str(exe))))
        stamp.write_text(pins)
    baseline, now = json.loads(made.read_text()), installed(str(exe))
    if extra := sorted(set(now) - set(baseline)):        # what an earlier check installed
        subprocess.run([str(exe), "-m", "pip", "uninstall", "-q", "-y", *extra], check=True)
    if any(now.get(name) != version for name, version in baseline.items()):
        stamp.unlink()
        return colab_env(python, venv)
    return str(exe)


def build_wheel(tmp: Path) -> Path:
    """The wheel of this checkout, built (by this Python's setuptools) from a copy of it."""
    shutil.copytree(ROOT, tmp / "src", ignore=shutil.ignore_patterns(*NOT_IN_WHEEL))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp / "dist"), str(tmp / "src")], check=True)
    wheel, = (tmp / "dist").glob("skiplessons-*.whl")
    return wheel


def install_as_the_first_cell(exe: str, wheel: Path, tmp: Path) -> dict:
    """Install `wheel` with its dependencies, after asking pip's resolver what that would change."""
    before = installed(exe)
    report = tmp / "dry-run.json"
    subprocess.run([exe, "-m", "pip", "install", "-q", "--dry-run", "--report", str(report), str(wheel)], check=True)
    would_change, added = changes(json.loads(report.read_text()), before)
    subprocess.run([exe, "-m", "pip", "install", "-q", str(wheel)], check=True)
    after = installed(exe)
    changed = {n: (v, after.get(n)) for n, v in before.items() if after.get(n) != v}
    not_colab = {n: (v, after.get(n)) for n, v in colab_pins().items() if after.get(n) != v}
    return {"would_change": would_change, "changed": changed, "added": added, "not_colab": not_colab}


def run_notebook(path: Path, exe: str, scale: str, tmp: Path, timeout: int) -> tuple[bool, float, str]:
    """Execute `path` on `exe`'s kernel from an empty folder with an empty home: (passed, seconds, error)."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    work, home, kernels = tmp / path.stem / "content", tmp / path.stem / "home", tmp / "kernels" / "colab"
    work.mkdir(parents=True)
    home.mkdir()
    kernels.mkdir(parents=True, exist_ok=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [exe, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab stack", "language": "python"}))
    shutil.copy(path, work / path.name)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SKIPLESSONS_", "PYTHON", "VIRTUAL_ENV", "MPLBACKEND", "JUPYTER"))}
    env.update(HOME=str(home), SKIPLESSONS_SCALE=scale, PYDEVD_DISABLE_FILE_VALIDATION="1")
    nb = nbformat.read(work / path.name, as_version=4)
    km = KernelManager(kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels.parent)]))
    client = NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(work)}})
    start = time.time()
    try:
        client.execute(env=env)
        return True, time.time() - start, ""
    except CellExecutionError as e:
        return False, time.time() - start, re.sub(r"\x1b\[[0-9;]*m", "", str(e))[-1500:]
    finally:                    # a kernel manager passed in is not the client's to shut down
        if km.has_kernel:
            km.shutdown_kernel(now=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in book/")
    ap.add_argument("--python", help="a Python 3.13 interpreter (default: python3.13 or pyenv's)")
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv-colab", help="where the Colab environment lives")
    ap.add_argument("--scale", default="smoke", help=f"one of {', '.join(SCALES)}")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = ap.parse_args(argv)
    if args.scale not in SCALES:
        ap.error(f"--scale must be one of {', '.join(SCALES)}, not {args.scale!r}")
    notebooks = args.notebooks or sorted((ROOT / "book").glob("*.ipynb"))
    exe = colab_env(args.python or find_python(), args.venv)
    with tempfile.TemporaryDirectory(prefix="colab-check-") as t:
        tmp = Path(t)
        install = install_as_the_first_cell(exe, build_wheel(tmp), tmp)
        runs = {nb.name: run_notebook(nb.resolve(), exe, args.scale, tmp, args.timeout) for nb in notebooks}
    python = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\ncolab_check: {python}, " + ", ".join(f"{n} {v}" for n, v in colab_pins().items()))
    print(f"installing the wheel added {', '.join(f'{n} {v}' for n, v in sorted(install['added'].items())) or 'nothing'}")
    for key, what in (("would_change", "pip's resolver would change"), ("changed", "installing changed"),
                      ("not_colab", "not at Colab's version")):
        print(f"{what}: {install[key] or 'no package'}")
    for name, (ok, secs, err) in runs.items():
        print(f"  {'passed' if ok else 'FAILED'}  {name}  {secs:.0f} s" + (f"\n{err}" if err else ""))
    failed = [n for n, (ok, _, _) in runs.items() if not ok]
    print(f"notebooks at {args.scale} on the Colab stack:")
    print(f"colab: {len(runs) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or install["would_change"] or install["changed"] or install["not_colab"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""The book as Colab runs it: the package installed from a built wheel (not editable, no checkout in reach) and
each chapter executed alone, at `smoke`, from an empty folder, with an empty home (no cached results). Its
kernel runs on this environment, build tools included; `make colab-test` runs the chapters on Colab's own."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import stamp_version

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.name for p in (ROOT / "book").glob("*.ipynb"))
#: what chapters 00, 07 and 08 print under the stored paper-scale results (`experiments.provenance_line`)
PAPER_LINES = {"00_headline.ipynb": ["training at paper scale"],
               "07_training_deep.ipynb": ["training at paper scale", "depth_sweep at paper scale"],
               "08_degeneracy.ipynb": ["degeneracy at paper scale"]}

RUN = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3").execute()
nbformat.write(nb, sys.argv[2])
"""


def _copy_source(dst: Path) -> None:
    """What the package is built from, copied: setuptools writes build/ and *.egg-info beside the sources."""
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "_build", "results", "*.egg-info", "__pycache__", "book", "tests", "bench"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A folder holding the package installed from a freshly built wheel (put first on PYTHONPATH, so neither
    the checkout nor an editable install is imported) and an environment that uses it."""
    tmp = tmp_path_factory.mktemp("wheel")
    _copy_source(tmp / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp / "dist"), str(tmp / "src")], check=True, cwd=tmp)
    wheel, = (tmp / "dist").glob("skiplessons-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                    str(tmp / "site"), str(wheel)], check=True, cwd=tmp)
    (tmp / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPLESSONS_") and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(tmp / "site"), HOME=str(tmp / "home"), SKIPLESSONS_SCALE="smoke")
    return tmp, env


def test_the_wheel_holds_the_paper_results_and_is_what_is_imported(installed, tmp_path):
    tmp, env = installed
    out = subprocess.run([sys.executable, "-c", "import skiplessons, skiplessons.results as r; "
                          "print(skiplessons.__file__); print(r.results_dir()); print(len(r.stored()))"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, check=True).stdout.split("\n")
    assert out[0].startswith(str(tmp / "site")), out
    assert out[1] == str(tmp / "home" / ".cache" / "skiplessons" / "results")
    assert int(out[2]) >= 3, "the committed paper-scale results ship in the wheel"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_installed_from_an_empty_folder(installed, tmp_path, chapter):
    _, env = installed
    src = tmp_path / chapter
    src.write_text((ROOT / "book" / chapter).read_text())
    done = subprocess.run([sys.executable, "-c", RUN, str(src), str(tmp_path / "out.ipynb")], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    text = json.dumps(json.loads((tmp_path / "out.ipynb").read_text())["cells"])
    for line in PAPER_LINES.get(chapter, []):
        assert line in text, f"{chapter} does not show the stored paper-scale result ({line!r})"
    assert "no stored paper-scale result of training" not in text


def test_a_git_install_records_its_version_and_commit(tmp_path):
    """Installed as the first cell installs it (`skiplessons @ git+URL@TAG`, here from a local repository), a
    result's provenance names the library's version and the commit pip recorded, not "unknown"."""
    repo = tmp_path / "repo"
    _copy_source(repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", "v-test"]):
        subprocess.run(git + args, check=True, capture_output=True)
    commit = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(tmp_path / "site"), f"skiplessons @ git+file://{repo}@v-test"], check=True, cwd=tmp_path)
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKIPLESSONS_") and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(tmp_path / "site"), HOME=str(tmp_path / "home"))
    out = subprocess.run([sys.executable, "-c", "import skiplessons, skiplessons.results as r; "
                          "p = r.provenance('cpu', 1.0, [0]); print(skiplessons.__file__, p['skiplessons'], p['commit'])"],
                         capture_output=True, text=True, env=env, cwd=tmp_path / "home", check=True).stdout.split()
    assert out[0].startswith(str(tmp_path / "site")), out
    assert out[1:] == [stamp_version.version(), commit]

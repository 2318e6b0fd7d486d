"""Installing the library on Colab changes none of Colab's packages (issue 28): pip's resolver, asked to install
the wheel within Colab's versions (constraints/colab.txt) on Python 3.13, finds a solution, so the first cell's
plain `pip install` keeps every one of them. A dependency that needed, say, ipywidgets>=8 (Colab ships 7)
would fail here. `make colab-test` runs the notebooks themselves on that stack."""
import json
import subprocess

import pytest

from scripts import colab_check


def test_changes_tells_changed_from_added():
    report = {"install": [{"metadata": {"name": "ipywidgets", "version": "8.1.0"}},
                          {"metadata": {"name": "MNIST1D", "version": "0.0.2"}}]}
    changed, added = colab_check.changes(report, {"ipywidgets": "7.7.1", "torch": "2.11.0"})
    assert changed == {"ipywidgets": ("7.7.1", "8.1.0")} and added == {"mnist1d": "0.0.2"}


def test_colab_pins_are_exact_and_include_what_the_book_needs():
    pins = colab_check.colab_pins()
    assert {"torch", "numpy", "scipy", "matplotlib", "scikit-learn", "ipywidgets", "ipykernel", "ipython"} <= set(pins)


def test_the_wheel_resolves_within_colabs_versions(tmp_path):
    try:
        python = colab_check.find_python("3.13")
    except SystemExit as e:
        pytest.skip(str(e))
    wheel = colab_check.build_wheel(tmp_path)
    report = tmp_path / "report.json"
    done = subprocess.run([python, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed", "--report",
                           str(report), "-c", str(colab_check.COLAB), str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, f"the wheel cannot be installed within Colab's versions:\n{done.stderr[-3000:]}"
    resolved = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}
    assert "skiplessons" in resolved
    assert set(colab_check.colab_pins()) <= set(resolved), "every Colab package listed is in the wheel's closure"

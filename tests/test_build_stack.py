"""The build stack is pinned end to end (issue 28): the environment that builds the site holds exactly the
versions of constraints/build.txt for jupyter-book's whole dependency closure, and requirements.txt agrees."""
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts import pin_build_stack as pin

ROOT = Path(__file__).resolve().parents[1]


def test_the_environment_equals_the_constraints_file():
    installed, pinned = pin.closure(), pin.read()
    differ = {n: (installed.get(n), pinned.get(n)) for n in installed.keys() | pinned.keys()
              if installed.get(n) != pinned.get(n)}
    assert not differ, (f"build stack (installed, pinned) differs from {pin.CONSTRAINTS.name}: {differ}; "
                        "reinstall with `make book`, or after a deliberate upgrade run scripts/pin_build_stack.py")


def test_the_file_is_what_the_script_writes():
    assert pin.CONSTRAINTS.read_text() == pin.render(pin.read()), "edit the pins with scripts/pin_build_stack.py"


def test_requirements_agree_with_the_constraints():
    pinned = pin.read()
    reqs = [Requirement(line.split("#", 1)[0]) for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.split("#", 1)[0].strip()]
    clash = [str(r) for r in reqs if canonicalize_name(r.name) in pinned
             and pinned[canonicalize_name(r.name)] not in r.specifier]
    assert not clash, f"requirements.txt pins that contradict {pin.CONSTRAINTS.name}: {clash}"
    assert set(pin.ROOTS) <= {canonicalize_name(r.name) for r in reqs}, "requirements.txt must name every root"


def test_read_parses_pins_and_skips_comments(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("# header\nSphinx_Book.Theme==1.3.0  # why\n\ndocutils==0.21.2\n")
    assert pin.read(f) == {"sphinx-book-theme": "1.3.0", "docutils": "0.21.2"}

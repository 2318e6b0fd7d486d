"""The library's layers point one way: curvature at the bottom knows nothing of training, experiments know
nothing of claims or report tables, no module imports another's private names, and a part of the book has one name
in every layer (`experiments.partN`, `claims.partN`, `plots.partN`)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "skiplessons"
MODULES = sorted(SRC.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) for every `import` in `path`, relative imports resolved."""
    package = module_name(path).split(".") if path.name == "__init__.py" else module_name(path).split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = [a.name for a in node.names]
            if node.module is None:                     # from . import x: each x is a module
                found += [(f"{target}.{n}", []) for n in names]
            else:
                found.append((target, names))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def depends_on(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [m for m, _ in imports(path) if any(m == f or m.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("path", sorted((SRC / "curvature").glob("*.py")), ids=lambda p: p.name)
def test_curvature_knows_nothing_of_training(path):
    bad = depends_on(path, ("skiplessons.train", "skiplessons.experiments", "skiplessons.claims",
                            "skiplessons.degeneracy", "skiplessons.models", "skiplessons.data"))
    assert not bad, f"curvature/{path.name} imports {bad}"


@pytest.mark.parametrize("path", sorted((SRC / "experiments").glob("*.py")), ids=lambda p: p.name)
def test_experiments_know_nothing_of_claims(path):
    bad = depends_on(path, ("skiplessons.claims", "skiplessons.report"))
    assert not bad, f"experiments/{path.name} imports {bad}"


@pytest.mark.parametrize("path", [p for p in MODULES if "claims" not in p.parts], ids=lambda p: module_name(p))
def test_only_the_pages_use_claims(path):
    assert not depends_on(path, ("skiplessons.claims",)), f"{module_name(path)} imports the claims"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_private_imports_across_modules(path):
    private = [(m, n) for m, names in imports(path) for n in names if n.startswith("_") and m.startswith("skiplessons")
               and m != "skiplessons"]
    assert not private, f"{module_name(path)} imports private names {private}"


def test_one_loss_definition():
    """`losses` defines the losses; train and curvature import them from there."""
    for name in ("train.py", "curvature/stacked.py", "curvature/functional.py"):
        assert "skiplessons.losses" in [m for m, _ in imports(SRC / name)], name
    defs = [p for p in MODULES for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.FunctionDef) and node.name in ("per_net_loss", "loss_value")]
    assert [module_name(p) for p in defs] == ["skiplessons.losses"] * 2


# ------------------------------------------------------------------------ chapters ask, the library answers

BOOK = SRC.parents[1] / "book"
#: chapters still carrying asserts or scale guards, each owned by a change in progress (issue 29): empty it
#: when they are gone
CHECKS_STILL_IN_CHAPTER: tuple[str, ...] = ()
CHAPTERS = [p for p in sorted(BOOK.glob("[0-9][0-9]_*.ipynb")) if p.stem not in CHECKS_STILL_IN_CHAPTER]


def checks_in_chapter_code(source: str) -> list[str]:
    """Every bare `assert` (statement or `...assert_*(...)` call) and every `if` on `env.scale` in a chapter's
    code: a check belongs in the library, asserted with `claims.expect`, which knows a verdict's scale."""
    from test_assertions import python_source

    found = []
    for node in ast.walk(ast.parse(python_source(source))):
        call = node.func if isinstance(node, ast.Call) else None
        name = call.attr if isinstance(call, ast.Attribute) else call.id if isinstance(call, ast.Name) else ""
        if isinstance(node, ast.Assert) or name.startswith("assert"):
            found.append(f"line {node.lineno}: assert")
        elif isinstance(node, (ast.If, ast.IfExp)) and any(
                isinstance(sub, ast.Attribute) and sub.attr == "scale" and isinstance(sub.value, ast.Name)
                and sub.value.id == "env" for sub in ast.walk(node.test)):
            found.append(f"line {node.lineno}: if env.scale")
    return found


def aliased_modules(source: str) -> list[str]:
    """Modules of the library a chapter imports under another name (`from skiplessons import fisher as fi`)."""
    from test_assertions import python_source

    return [f"{a.name} as {a.asname}" for node in ast.walk(ast.parse(python_source(source)))
            if isinstance(node, (ast.Import, ast.ImportFrom)) and "skiplessons" in (
                node.module or "" if isinstance(node, ast.ImportFrom) else " ".join(a.name for a in node.names))
            for a in node.names if a.asname and a.asname != a.name.rsplit(".", 1)[-1]]


@pytest.mark.parametrize("source,found", [
    ("from skiplessons import fisher as fi, singular_points", ["fisher as fi"]),
    ("import skiplessons.dynamics as D\nimport numpy as np", ["skiplessons.dynamics as D"]),
    ("from skiplessons import claims\nfrom skiplessons.claims import facts\nimport matplotlib.pyplot as plt", []),
])
def test_alias_detector(source, found):
    assert aliased_modules(source) == found


@pytest.mark.parametrize("source,found", [
    ("assert gap < 1e-10  # fact: round-off", ["line 1: assert"]),
    ("np.testing.assert_allclose(a, b)", ["line 1: assert"]),
    ("if env.scale != 'smoke':\n    x = 1", ["line 1: if env.scale"]),
    ("y = 2 if env.scale == 'paper' else 1", ["line 1: if env.scale"]),
    ("%pip install x\nclaims.expect(facts.hold('s', facts.small('change', d)))", []),
    ("S = PART1[env.scale]\nprint(f'scale={env.scale}')", []),
])
def test_chapter_check_detector(source, found):
    assert checks_in_chapter_code(source) == found


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_no_asserts_scale_guards_or_module_aliases_in_chapters(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    found = [f"cell {i} {where}" for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             for where in checks_in_chapter_code(cell.source)]
    assert not found, f"{path.name}: checks belong in the library (claims.expect of a check): {found}"
    aliases = [a for cell in nb.cells if cell.cell_type == "code" for a in aliased_modules(cell.source)]
    assert not aliases, f"{path.name}: import the library's modules under their names: {aliases}"


def test_one_spectrum_settings_type():
    """How a spectrum is measured is one frozen dataclass, `curvature.SpectrumSettings`: no other class declares
    its sizes, and the `spectrum` of every experiment config is of that type (so its seed is in the hash)."""
    from skiplessons import experiments
    from skiplessons.curvature import SpectrumSettings

    declaring = [f"{module_name(p)}.{node.name}" for p in MODULES for node in ast.walk(ast.parse(p.read_text()))
                 if isinstance(node, ast.ClassDef) and {"n_probes", "n_steps", "dense_max"} & {
                     s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}]
    assert declaring == ["skiplessons.curvature.settings.SpectrumSettings"]
    assert SpectrumSettings.__dataclass_params__.frozen and "seed" in SpectrumSettings.__dataclass_fields__
    kinds = {type(c.spectrum) for e in experiments.registry().values() for c in e.configs.values()
             if hasattr(c, "spectrum")}
    assert kinds == {SpectrumSettings}


def optimizer_uses(path: Path) -> list[str]:
    """Where `path` builds a `torch.optim` optimizer or calls `.step()` on something named like one."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "optim":
            found.append(f"line {node.lineno}: torch.optim")
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                n == "torch.optim" or n.startswith("torch.optim.") for n in
                [getattr(node, "module", None) or "", *(f"{getattr(node, 'module', None)}.{a.name}" for a in node.names),
                 *(a.name for a in node.names)]):
            found.append(f"line {node.lineno}: imports torch.optim")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step"
              and "opt" in ast.unparse(node.func.value).lower()):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_only_train_steps_an_optimizer():
    """Training loops live in `train.py` (`train`, and `fit` for the models that are not a batch of deep nets);
    everything that measures during training hooks into `train` through its step hook."""
    assert optimizer_uses(SRC / "train.py"), "the check finds nothing in train.py: it cannot fail"
    offenders = {module_name(p): optimizer_uses(p) for p in MODULES if p != SRC / "train.py"}
    assert not {m: f for m, f in offenders.items() if f}


@pytest.mark.parametrize("n", range(1, 6))
def test_a_part_has_one_name_in_every_layer(n):
    """Part N's experiments, checks and figures are found under the same name: `experiments.partN`,
    `claims.partN` and `plots.partN` (issue 29)."""
    import importlib

    for layer in ("experiments", "claims", "plots"):
        module = importlib.import_module(f"skiplessons.{layer}.part{n}")
        assert Path(module.__file__).resolve() == SRC / layer / f"part{n}.py"


def test_no_figure_modules_left_at_the_top_level():
    """Figures live in `plots/` only: no figure module (`plot*.py`) beside the other modules."""
    left = sorted(p.name for p in SRC.glob("plot*.py"))
    assert not left, f"figure modules at the package's top level: {left}; they belong in plots/"

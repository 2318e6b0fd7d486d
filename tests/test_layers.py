"""The library's layers point one way: curvature at the bottom knows nothing of training, experiments know
nothing of claims or report tables, and no module imports another's private names."""
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

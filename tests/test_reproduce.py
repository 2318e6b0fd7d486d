"""A stored result is exactly its config: the paper configs are what the committed results ran, `stored` never
substitutes another config, every chapter prints a command that the CLI resolves to the result it shows, and the
reproduction page's list of committed results that are missing or stale (issue 32) is right. No compute but
the smoke runs that check `OLDER_CODE`."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from skiplessons import experiments, results
from skiplessons.__main__ import _parser, run_settings
from skiplessons.experiments import reproduce
from skiplessons.experiments.configs import CIFAR100, PAPER_DATA, as_dict, takes_paper_data
from skiplessons.report import reproduce_rows

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
#: committed paper results whose config is, knowingly, not the registered one (the chapters say how it differs)
KNOWN_STALE: tuple = ()
#: what `describe` and `stored_or_say` print around a command
COMMAND = re.compile(r"(?:reproduce: |make it with )`([^`]+)`")
PROV = {"commit": "0123456789abcdef", "date": "2026-12-01T00:00:00+00:00", "device": "cpu", "wall_time_s": 1.0,
        "seeds": []}


def resolve(command: str) -> tuple[str, str, dict]:
    """(experiment, scale, config) of a printed `python -m skiplessons run ...`, through the CLI's own parser."""
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "skiplessons"], command
    args = _parser().parse_args(words[3:])
    scale, overrides = run_settings(args)
    assert scale is not None, f"{command} leaves the scale to the environment"
    return args.name, scale, as_dict(experiments.config_for(args.name, scale, **overrides))


def key_of(command: str) -> str:
    """The result key a printed command resolves to."""
    return results.key(*resolve(command))


def printed_command(text: str) -> str:
    found = COMMAND.findall(text)
    assert len(found) == 1, text
    return found[0]


def save(name: str, scale: str, config: dict, folder, commit: str = PROV["commit"]) -> results.Result:
    """A made-up stored result of `name` with `config` (one net's labels; enough for the readers)."""
    arrays = {"arch": np.array(["plain"]), "seed": np.array([0])}
    return results.save(name, scale, config, {"data": config.get("data", "-")}, arrays, PROV | {"commit": commit},
                        folder)


@pytest.fixture()
def only(tmp_path, monkeypatch):
    """An empty writable results folder and no committed results: only what a test stores is found."""
    monkeypatch.setattr(results, "SHIPPED", "no_such_folder")
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))
    return tmp_path


def test_each_committed_paper_result_is_its_registered_config(tmp_path):
    committed = [results.read(f) for f in sorted(results.shipped_dir().glob("*.json"))]
    assert len(committed) >= 6 and all(r is not None for r in committed)
    for r in committed:
        if r.name in KNOWN_STALE:
            continue
        assert r.scale == "paper" and r.key == results.key(r.name, "paper", reproduce.registered(r.name, "paper")), (
            f"{r.source}: differs from the registered paper config in "
            f"{reproduce.differences(r.config, reproduce.registered(r.name, 'paper'))}")
        assert experiments.stored(r.name, "paper", folder=tmp_path).stored.source == r.source


def test_cifar100_is_a_separate_configuration_of_the_paper_data_experiments():
    reg = experiments.registry()
    paper_data = [n for n, e in reg.items() if takes_paper_data(e.configs["paper"])]
    assert {"training", "degeneracy", "depth_sweep", "init_controls", "rivals"} <= set(paper_data)
    assert not [n for n, e in reg.items() if getattr(e.configs["paper"], "data", None) == "cifar100"]
    for name in paper_data:
        paper = reproduce.registered(name, "paper")
        cifar = reproduce.registered(name, "paper", **CIFAR100)
        assert {k: paper[k] for k in PAPER_DATA} == PAPER_DATA and cifar["data"] == "cifar100"
        assert reproduce.differences(cifar, paper) == {"data": ("cifar100", "mnist1d")}
        cmd = reproduce.command(name, "paper", cifar)
        assert cmd == f"python -m skiplessons run {name} --scale paper --data cifar100"
        assert key_of(cmd) == results.key(name, "paper", cifar) != results.key(name, "paper", paper)


def test_stored_returns_only_the_registered_config(only, capsys):
    registered = reproduce.registered("training", "smoke")
    other = registered | {"seeds": [7, 3], "data": "cifar10", "data_dir": "my data"}    # CIFAR reads data_dir
    made = save("training", "smoke", other, only)
    assert experiments.stored("training", "smoke") is None
    shown = experiments.stored_or_say("training", "smoke")
    out = capsys.readouterr().out
    assert shown.stored.key == made.key
    assert "NOT the registered smoke config of training" in out
    assert 'seeds [7, 3] (registered: [0, 1])' in out and 'data "cifar10" (registered: "mnist1d")' in out
    assert "data_dir (registered" not in out                 # a location is not part of what was computed
    cmd = printed_command(out)
    assert cmd == "python -m skiplessons run training --scale smoke --data cifar10 --seeds 7 3"
    assert key_of(cmd) == made.key == results.key("training", "smoke", other | {"data_dir": "data"})

    mine = save("training", "smoke", registered | {"data_dir": "/elsewhere"}, only)
    assert experiments.stored("training", "smoke").stored.key == mine.key
    experiments.stored_or_say("training", "smoke")
    out = capsys.readouterr().out
    assert "the registered smoke config of training" in out and "NOT" not in out
    assert key_of(printed_command(out)) == mine.key


def test_a_config_no_command_makes_is_said_with_its_commit(only, capsys):
    registered = reproduce.registered("training", "smoke")
    old = {k: v for k, v in registered.items() if k != "dtype"} | {"steps": 7, "optimizer": "sgd"}
    save("training", "smoke", old, only, commit="feedfacecafe0000")
    assert reproduce.command("training", "smoke", old) is None
    experiments.stored_or_say("training", "smoke")
    out = capsys.readouterr().out
    assert 'steps 7 (registered: 30)' in out and 'dtype "(absent)" (registered: "float32")' in out
    assert "optimizer \"sgd\" (registered: \"(absent)\")" in out
    assert ("reproduce: no command of this version makes this config (it differs in steps, dtype, optimizer, "
            "which the command line does not set); it was computed at commit feedfacecafe") in out
    assert not COMMAND.findall(out)


def test_a_missing_result_names_the_command_of_the_registered_config(only, capsys):
    assert experiments.stored_or_say("degeneracy", "paper") is None
    cmd = printed_command(capsys.readouterr().out)
    assert key_of(cmd) == results.key("degeneracy", "paper", reproduce.registered("degeneracy", "paper"))


def shown_experiments(chapter: Path) -> list[str]:
    """The experiments whose stored paper-scale result a chapter shows (its `stored_or_say` calls); a chapter
    that calls `stored` itself would show one without saying what it is."""
    code = "\n".join("".join(c["source"]) for c in json.loads(chapter.read_text())["cells"]
                     if c["cell_type"] == "code")
    assert not re.search(r"(?<![\w.])stored\(", code), f"{chapter.name} calls stored(): use stored_or_say"
    return re.findall(r"stored_or_say\(\s*\"(\w+)\",\s*\"paper\"\s*\)", code)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_prints_the_command_of_the_result_it_shows(chapter, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKIPLESSONS_RESULTS", str(tmp_path))          # as installed: the committed results only
    for name in shown_experiments(chapter):
        found = experiments.stored_or_say(name, "paper")
        cmd = printed_command(capsys.readouterr().out)
        shown = found.stored.key if found is not None else results.key(
            name, "paper", reproduce.registered(name, "paper"))
        assert key_of(cmd) == shown, (chapter.name, name, cmd)
        if found is not None:           # what `load_or_run` looks up first when the command runs: the result shown
            assert results.load(*resolve(cmd)).source == found.stored.source


def test_the_chapters_show_every_committed_result():
    shown = {n for c in CHAPTERS for n in shown_experiments(c)}
    assert {results.read(f).name for f in results.shipped_dir().glob("*.json")} <= shown


def test_paper_status_matches_the_committed_files():
    """The reproduction page's list, checked against the file names in the package (not the same code path)."""
    files = {f.name for f in results.shipped_dir().glob("*.json")}
    status = reproduce.paper_status()
    assert [row["experiment"] for row in status] == sorted(experiments.registry())
    for row in status:
        name = row["experiment"]
        mine = f"{results.key(name, 'paper', reproduce.registered(name, 'paper'))}.json"
        if mine in files:
            old = name in reproduce.OLDER_CODE and row["result"].provenance["commit"].startswith(
                reproduce.OLDER_CODE[name].commit)
            assert row["status"] == (reproduce.OLDER if old else reproduce.CURRENT), name
        elif any(f.startswith(f"{name}-paper-") for f in files):
            assert row["status"] == reproduce.STALE and row["differences"], name
        else:
            assert row["status"] == reproduce.MISSING and row["result"] is None, name
        assert key_of(row["command"]) == mine[:-len(".json")]
    assert sum(row["status"] != reproduce.MISSING for row in status) == len(files) - len(KNOWN_STALE)


def test_paper_status_and_the_page_table_on_made_up_results(tmp_path, monkeypatch):
    save("training", "paper", reproduce.registered("training", "paper"), tmp_path)
    stale = reproduce.registered("degeneracy", "paper") | {"steps": 10}
    save("degeneracy", "paper", stale, tmp_path)
    save("remedies", "paper", reproduce.registered("remedies", "paper"), tmp_path, commit="abcdef0123")
    monkeypatch.setattr(reproduce, "OLDER_CODE", {"remedies": reproduce.OlderCode("abcdef", ("x",))})
    status = {row["experiment"]: row for row in reproduce.paper_status(tmp_path)}
    assert status["training"]["status"] == reproduce.CURRENT and status["training"]["differences"] == {}
    assert status["degeneracy"]["status"] == reproduce.STALE
    assert status["degeneracy"]["differences"] == {"steps": (10, 5000)}
    assert status["remedies"]["status"] == reproduce.OLDER
    assert {n for n, row in status.items() if row["status"] == reproduce.MISSING} == (
        set(experiments.registry()) - {"training", "degeneracy", "remedies"})
    rows = {r["experiment"]: r for r in reproduce_rows(status.values(), pages=["00_headline"])}
    assert rows["training"]["chapter"] == "{doc}`00_headline`" and rows["training"]["ran on"] == "cpu"
    assert rows["degeneracy"]["committed result"] == "stale (differs in steps)"
    assert rows["remedies"]["committed result"] == "older code"
    assert rows["plateaus"]["on CIFAR-100"] == "—" and rows["plateaus"]["committed result"] == "missing"
    assert key_of(rows["training"]["on CIFAR-100"].strip("`")) == results.key(
        "training", "paper", reproduce.registered("training", "paper", **CIFAR100))


def test_older_code_says_what_the_result_lacks(tmp_path):
    committed = experiments.stored("degeneracy", "paper", folder=tmp_path)
    assert reproduce.older_code(committed) is reproduce.OLDER_CODE["degeneracy"]
    text = reproduce.describe(committed)
    assert "computed by older code (commit d33bc1abc0be): it lacks ckpt_live_rank_deficit, n_classes" in text
    assert "the registered paper config of degeneracy" in text


def test_older_code_lists_exactly_what_todays_code_adds(tmp_path):
    """Each committed result with its registered config, against a `smoke` run of today's code: the outputs
    (array and summary keys) it lacks are the ones `OLDER_CODE` names for it, and none for the others."""
    for r in map(results.read, sorted(results.shipped_dir().glob("*.json"))):
        if r.name in KNOWN_STALE:
            continue
        today = experiments.load_or_run(r.name, "smoke", folder=tmp_path, progress=False)
        lacks = (set(today.arrays) | set(today.summary)) - (set(r.arrays) | set(r.summary))
        marker = reproduce.older_code(r)
        assert sorted(lacks) == sorted(marker.lacks if marker else ()), r.name

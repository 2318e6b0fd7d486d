"""Stored configs for the hand-made results of the tests: a typed result reads its config as its experiment's
frozen dataclass, so a made-up result stores a whole config (the registered one with the fields a test sets)."""
from __future__ import annotations

from dataclasses import replace

from skiplessons.experiments import config_for
from skiplessons.experiments.configs import as_dict


def stored_config(name: str, scale: str = "default", **fields) -> dict:
    """The registered config of experiment `name` at `scale` with `fields` changed, as a stored result holds it."""
    return as_dict(replace(config_for(name, scale), **fields))

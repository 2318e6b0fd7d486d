"""Seeds, device, scale and plot style: the one call every chapter makes first (chapter 0)."""
from __future__ import annotations

import os
import random
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

SCALES = ("smoke", "default", "paper")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Env:
    """What `setup` chose: the scale, the torch device and the seed."""

    scale: str
    device: torch.device
    seed: int


@cache
def scale() -> str:
    """The run size from `SKIPLESSONS_SCALE` (`smoke` | `default` | `paper`), read once per process."""
    value = os.environ.get("SKIPLESSONS_SCALE", "default").strip().lower()
    return check_scale(value, "SKIPLESSONS_SCALE")


def check_scale(value: str, name: str = "scale") -> str:
    """Return `value` if it is a valid scale, else raise a ValueError naming `name` and the valid values."""
    if value not in SCALES:
        raise ValueError(f"{name}={value!r} is not a valid scale; choose one of {', '.join(SCALES)}")
    return value


def device() -> torch.device:
    """CUDA when present, else CPU; `SKIPLESSONS_DEVICE=cpu|cuda` overrides."""
    choice = os.environ.get("SKIPLESSONS_DEVICE", "").strip().lower()
    if choice and choice not in DEVICES:
        raise ValueError(f"SKIPLESSONS_DEVICE={choice!r} is not valid; choose one of {', '.join(DEVICES)}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("SKIPLESSONS_DEVICE=cuda but torch sees no CUDA device")
    if choice:
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch, and make CPU kernels deterministic."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@contextmanager
def one_thread():
    """Run torch on one intra-op thread inside the block (restored after).

    The small nets of Parts I, II and the Hessian work of Parts III-IV gain nothing from threads: for them
    thread start-up costs more than the arithmetic. Measured on 2 busy cores: a forward pass of a
    36-parameter net took 5 ms with 2 threads and 0.05 ms with 1."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _in_colab() -> bool:
    return "COLAB_RELEASE_TAG" in os.environ or "google.colab" in str(os.environ.get("PYTHONPATH", ""))


def setup(seed: int = 0, quiet: bool = False) -> Env:
    """Seed everything, pick the device, read the scale, apply the house plot style; print one line.

    Introduced in chapter 0. The scale is read once per process from `SKIPLESSONS_SCALE`.
    """
    from .plotting import use_style

    seed_everything(seed)
    env = Env(scale=scale(), device=device(), seed=int(seed))
    use_style()
    if not quiet:
        hint = ""
        if env.device.type == "cpu" and _in_colab():
            hint = "  (Colab: Runtime > Change runtime type > GPU for the paper scale)"
        print(f"skiplessons: scale={env.scale} device={env.device} seed={env.seed}{hint}")
    return env

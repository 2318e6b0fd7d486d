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
    """What `setup` chose: the scale, the torch device, the seed and whether long runs show progress bars."""

    scale: str
    device: torch.device
    seed: int
    progress: bool = False


#: the choices of the last `setup` call in this process (None before the first)
_session: Env | None = None


@cache
def scale_from_environment() -> str:
    """The run size from `SKIPLESSONS_SCALE` (`smoke` | `default` | `paper`; default `default`), read once per
    process: the one outside knob, so that `make book` and pytest can choose the scale of every chapter."""
    value = os.environ.get("SKIPLESSONS_SCALE", "default").strip()
    return check_scale(value, "SKIPLESSONS_SCALE")


def current_scale() -> str:
    """The scale chosen by `setup` in this process, else the one from the environment."""
    return _session.scale if _session is not None else scale_from_environment()


def current_device() -> torch.device:
    """The device chosen by `setup` in this process, else `device()`."""
    return _session.device if _session is not None else device()


def current_progress() -> bool:
    """Whether long runs show progress bars: the choice of `setup` in this process, else `default_progress`."""
    return _session.progress if _session is not None else default_progress(current_scale())


def default_progress(scale: str) -> bool:
    """Progress bars by default only at `paper` scale, where a run takes minutes: the site is built at `default`,
    and a finished bar would leave an empty widget, and the whole widget bundle, on its page."""
    return check_scale(scale) == "paper"


def check_scale(value: str, name: str = "scale") -> str:
    """Return `value` if it is a valid scale, else raise a ValueError naming `name` and the valid values."""
    if not isinstance(value, str) or value not in SCALES:
        raise ValueError(f"{name}={value!r} is not a valid scale; choose one of {', '.join(SCALES)}")
    return value


def pick_device(choice: str | None = None) -> torch.device:
    """`choice` ("cpu" | "cuda"), or CUDA when present else CPU."""
    if choice is not None and choice not in DEVICES:
        raise ValueError(f"device={choice!r} is not valid; choose one of {', '.join(DEVICES)}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA device")
    return torch.device(choice or ("cuda" if torch.cuda.is_available() else "cpu"))


def device() -> torch.device:
    """The default device: CUDA when present, else CPU."""
    return pick_device()


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


def setup(seed: int = 0, scale: str | None = None, device: str | None = None, quiet: bool = False,
          progress: bool | None = None) -> Env:
    """Seed everything, choose the scale and the device, apply the house plot style; print one line.

    `scale` defaults to `SKIPLESSONS_SCALE` (else `default`); `device` ("cpu" | "cuda") to CUDA when
    present; `progress` (show progress bars while experiments run) to `default_progress(scale)`: on at `paper`
    only. The choices hold for the rest of the process (`current_scale`, `current_device`,
    `current_progress`): experiments run with them unless told otherwise. Introduced in chapter 0.
    """
    global _session
    from .plots.style import use_style

    seed_everything(seed)
    chosen = check_scale(scale, "scale") if scale is not None else scale_from_environment()
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress={progress!r} must be True, False or None (None: on at paper scale only)")
    env = Env(scale=chosen, device=pick_device(device), seed=int(seed),
              progress=default_progress(chosen) if progress is None else progress)
    _session = env
    use_style()
    if not quiet:
        hint = ""
        if env.device.type == "cpu" and _in_colab():
            hint = "  (Colab: Runtime > Change runtime type > GPU for the paper scale)"
        print(f"skiplessons: scale={env.scale} device={env.device} seed={env.seed}{hint}")
    return env

"""Data sets of the book, as standardized tensors (chapter 0 and Part III).

- MNIST-1D (Greydanus 2020), generated procedurally by the `mnist1d` package: no download.
- scikit-learn's bundled 8x8 digits.
- Gaussian teacher-student regression data.
- CIFAR-10/100, flattened: read from the python-pickle batches with our own reader; torchvision (where it is
  installed and online, as on Colab) is used only to download them.
"""
from __future__ import annotations

import hashlib
import io
import json
import pickle
import pickletools
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import checks
from .files import atomic_write, remove_leftovers, set_aside, wait_for
from .locks import file_lock

DATASETS = ("mnist1d", "digits", "teacher", "cifar10", "cifar100")
#: the number of classes of each classification data set (the "C" of the Gauss-Newton rank bound N*C)
CLASS_COUNTS = {"mnist1d": 10, "digits": 10, "cifar10": 10, "cifar100": 100}
#: the data sets with class labels (`teacher` is regression), on which the deep-net experiments train
CLASSIFICATION = tuple(CLASS_COUNTS)
_CIFAR = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", b"labels", 10),
    "cifar100": ("cifar-100-python", ["train"], "test", b"fine_labels", 100),
}


@dataclass
class Dataset:
    """Train and test tensors: x (N, d) float, y (N,) integer labels (or (N, C) targets for regression)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    def __post_init__(self):
        """Refuse what no net can train or be measured on: empty splits, NaN or inf inputs, splits of other
        widths, labels outside [0, n_classes) or regression targets of another shape (a ValueError naming it)."""
        checks.integer(self.n_classes, "n_classes", 1)
        checks.samples(self.x_train, "x_train")
        checks.samples(self.x_test, "x_test", width=self.x_train.shape[1])
        for name, x, y in (("y_train", self.x_train, self.y_train), ("y_test", self.x_test, self.y_test)):
            if isinstance(y, torch.Tensor) and y.is_floating_point():
                checks.samples(y, name, width=self.n_classes)
                if len(y) != len(x):
                    raise ValueError(f"{name} has {len(y)} rows for {len(x)} inputs")
            else:
                checks.labels(y, name, len(x), self.n_classes)

    @property
    def d_in(self) -> int:
        return self.x_train.shape[1]

    def to(self, device=None, dtype=None) -> "Dataset":
        """A copy on `device`, with x in `dtype` (labels keep their integer type)."""
        cast = lambda x: x.to(device=device, dtype=dtype)  # noqa: E731
        y_cast = (lambda y: y.to(device)) if not self.y_train.is_floating_point() else cast
        return Dataset(self.name, cast(self.x_train), y_cast(self.y_train), cast(self.x_test),
                       y_cast(self.y_test), self.n_classes)


def _standardized(name, x_tr, y_tr, x_te, y_te, n_classes) -> Dataset:
    """Standardize each feature with the training set's mean and std."""
    mu, sd = x_tr.mean(0), x_tr.std(0)
    sd[sd == 0] = 1.0
    f = lambda x: torch.as_tensor((x - mu) / sd, dtype=torch.float32)  # noqa: E731
    return Dataset(name, f(x_tr), torch.as_tensor(y_tr, dtype=torch.long), f(x_te),
                   torch.as_tensor(y_te, dtype=torch.long), n_classes)


#: MNIST-1D's classes and features
MNIST1D_CLASSES, MNIST1D_FEATURES = 10, 40
_MNIST1D_KEYS = ("x", "y", "x_test", "y_test")


def mnist1d(n_samples: int = 5000, seed: int = 42, train_split: float = 0.8, cache=None) -> Dataset:
    """MNIST-1D with `n_samples` examples (40 features, 10 classes), generated offline.

    Generation takes about a second per 1,500 samples; with `cache` (a folder) the generated arrays are kept
    there with their generating settings and checksum (`mnist1d-N-SEED-SPLIT.npz`), read back by later calls
    and other processes after checks of shape, dtype, label range and checksum; a cache that fails any is set
    aside with a warning and generated again."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 20:
        raise ValueError(f"n_samples={n_samples!r} must be an integer >= 20")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed={seed!r} must be an integer in [0, 2**32)")
    n_total = int(n_samples) // MNIST1D_CLASSES * MNIST1D_CLASSES
    if not isinstance(train_split, (int, float)) or not 0 < int(n_total * train_split) < n_total:
        raise ValueError(f"train_split={train_split!r} must leave both splits non-empty: a number in (0, 1) "
                         f"with {n_total} samples")
    settings = {"n_samples": int(n_samples), "seed": int(seed), "train_split": float(train_split)}
    path = None if cache is None else Path(cache) / f"mnist1d-{int(n_samples)}-{int(seed)}-{float(train_split)}.npz"
    if path is None:
        d = _generate_mnist1d(settings)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        with wait_for(file_lock(path.parent, path.name), f"the data cache {path}"):
            remove_leftovers(path)             # of writers that were killed
            d = _read_cache(path, settings, n_total)
            if d is None:
                d = _generate_mnist1d(settings)
                _write_cache(path, settings, d)
    return _standardized("mnist1d", d["x"], d["y"], d["x_test"], d["y_test"], MNIST1D_CLASSES)


def _generate_mnist1d(settings: dict) -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = settings["n_samples"], settings["seed"], settings["train_split"]
    d = make_dataset(args)
    return {k: np.asarray(d[k]) for k in _MNIST1D_KEYS}


def _arrays_sha256(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in _MNIST1D_KEYS:
        h.update(f"{k}{arrays[k].dtype.str}{arrays[k].shape}".encode())
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()


def _write_cache(path: Path, settings: dict, arrays: dict) -> None:
    """The arrays with their generating settings and checksum, as one .npz written atomically."""
    meta = json.dumps({"settings": settings, "sha256": _arrays_sha256(arrays)})
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(meta), **arrays)
    atomic_write(path, buf.getvalue())


def _read_cache(path: Path, settings: dict, n_total: int) -> dict | None:
    """The cached MNIST-1D arrays at `path`, or None if there are none; a cache that fails a check is set aside
    with a warning naming it (and None returned: generate again)."""
    if not path.is_file():
        return None
    n_train = int(n_total * settings["train_split"])
    try:
        if not zipfile.is_zipfile(path):
            raise ValueError("it is not an .npz archive")
        with np.load(path, allow_pickle=False) as f:
            if set(f.files) != {"meta", *_MNIST1D_KEYS}:
                raise ValueError(f"it holds {sorted(f.files)}, not the arrays and settings of a cache")
            meta, d = json.loads(str(f["meta"])), {k: f[k] for k in _MNIST1D_KEYS}
        if not isinstance(meta, dict) or meta.get("settings") != settings:
            raise ValueError(f"it was generated with other settings ({meta.get('settings') if isinstance(meta, dict) else meta})")
        for k, n in (("x", n_train), ("x_test", n_total - n_train)):
            if d[k].shape != (n, MNIST1D_FEATURES) or not np.issubdtype(d[k].dtype, np.floating):
                raise ValueError(f"{k} is {d[k].dtype} {d[k].shape}, not float ({n}, {MNIST1D_FEATURES})")
            if not np.isfinite(d[k]).all():
                raise ValueError(f"{k} holds NaN or inf")
        for k, n in (("y", n_train), ("y_test", n_total - n_train)):
            if d[k].shape != (n,) or not np.issubdtype(d[k].dtype, np.integer):
                raise ValueError(f"{k} is {d[k].dtype} {d[k].shape}, not integer ({n},)")
            if d[k].min() < 0 or d[k].max() >= MNIST1D_CLASSES:
                raise ValueError(f"{k} has labels outside [0, {MNIST1D_CLASSES})")
        if meta.get("sha256") != _arrays_sha256(d):
            raise ValueError("its arrays do not match the checksum recorded in it")
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        set_aside(path, f"data cache {path} is damaged ({str(e)[:200]})")
        return None
    return d


def digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 1,797 8x8 digits (64 features, 10 classes), split with a stratified shuffle."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    checks.integer(seed, "seed", 0, 2**32)
    if not isinstance(test_fraction, (int, float)) or not 0.01 <= test_fraction <= 0.99:
        raise ValueError(f"test_fraction={test_fraction!r} must be a number in [0.01, 0.99]: both splits non-empty")

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return _standardized("digits", x_tr, y_tr, x_te, y_te, 10)


def teacher(n_train: int = 1000, n_test: int = 1000, d_in: int = 10, n_hidden: int = 4, n_out: int = 2,
            seed: int = 0) -> Dataset:
    """Gaussian inputs x ~ N(0, I) labelled by a random tanh teacher y = C tanh(J x) (regression targets)."""
    for name, v in (("n_train", n_train), ("n_test", n_test), ("d_in", d_in), ("n_hidden", n_hidden),
                    ("n_out", n_out)):
        checks.integer(v, name, 1)
    g = torch.Generator().manual_seed(checks.integer(seed, "seed", 0, 2**63))
    J = torch.randn(n_hidden, d_in, generator=g) / d_in**0.5
    C = torch.randn(n_out, n_hidden, generator=g) / n_hidden**0.5
    x = torch.randn(n_train + n_test, d_in, generator=g)
    y = torch.tanh(x @ J.T) @ C.T
    return Dataset("teacher", x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_out)


def read_cifar(root, name: str = "cifar100") -> Dataset:
    """Read CIFAR-10/100 from their python-pickle batches under `root`, flattened (3072 features) and
    standardized. This is the code path for the real files; tests use tiny files in the same format."""
    if name not in _CIFAR:
        raise ValueError(f"name={name!r} is not a CIFAR set; choose one of {', '.join(_CIFAR)}")
    folder, train_files, test_file, label_key, n_classes = _CIFAR[name]
    base = Path(root) / folder
    missing = [f for f in train_files + [test_file] if not (base / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{name} not found under {base} (missing {', '.join(missing)}). Download it with torchvision "
            f"(pip install 'skiplessons[vision]', then --data-dir DIR on a machine that is online), "
            f"or choose --data mnist1d.")

    def load(files):
        xs, ys = [], []
        for f in files:
            x, y = _cifar_batch(base / f, label_key, n_classes)
            xs.append(x)
            ys.append(y)
        return np.concatenate(xs) / 255.0, np.concatenate(ys)

    x_tr, y_tr = load(train_files)
    x_te, y_te = load([test_file])
    return _standardized(name, x_tr, y_tr, x_te, y_te, n_classes)


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds only numpy arrays and plain containers: a CIFAR batch needs nothing else, and a
    pickle from elsewhere could otherwise run arbitrary code."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("numpy._core.numeric", "_frombuffer"),
               ("numpy.core.numeric", "_frombuffer")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR batch never does")
        return super().find_class(module, name)


def _cifar_batch(path: Path, label_key: bytes, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch file as (x (N, 3072) float32 in [0, 255], y (N,) int64), checked: a dict with 8-bit
    images of 3,072 values and as many labels in [0, n_classes). Anything else is a ValueError naming the file."""
    raw = Path(path).read_bytes()
    try:
        with warnings.catch_warnings():         # the opcodes first: a corrupt file fails here, before the
            warnings.simplefilter("ignore", DeprecationWarning)     # unpickler allocates what a garbage length
            for _ in pickletools.genops(raw):                       # asks for (a MemoryError); its escapes in
                pass                                                # text opcodes are not worth a warning
        batch = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
        x, y = batch[b"data"], batch[label_key]
        x, y = np.asarray(x), np.asarray(y)
    except (pickle.UnpicklingError, EOFError, TypeError, KeyError, IndexError, AttributeError, ValueError,
            OverflowError) as e:
        raise ValueError(f"{path} is not a CIFAR batch in the python-pickle format ({type(e).__name__}: {e}); "
                         f"delete it and download again") from None
    if x.ndim != 2 or x.shape[1] != 3072 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{path}: images must be integers of shape (N, 3072), got {x.dtype} {x.shape}")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError(f"{path}: pixel values must lie in [0, 255], got [{x.min()}, {x.max()}]")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{path}: needs one integer label per image, got {y.dtype} {y.shape} for {len(x)} images")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{path}: labels must lie in [0, {n_classes}), got [{y.min()}, {y.max()}]")
    return x.astype(np.float32), y.astype(np.int64)


def cifar(name: str = "cifar100", root="data", download: bool = True) -> Dataset:
    """CIFAR-10/100: read from `root`, downloading with torchvision first if the files are missing."""
    if name not in _CIFAR:
        raise ValueError(f"name={name!r} is not a CIFAR set; choose one of {', '.join(_CIFAR)}")
    base = Path(root) / _CIFAR[name][0]
    if download and not base.is_dir():
        try:
            import torchvision
        except ImportError as e:
            raise ImportError(
                f"{name} is not under {root} and torchvision, which downloads it, is not installed: "
                f"pip install 'skiplessons[vision]' (Colab has it), or pass --data mnist1d") from e
        cls = torchvision.datasets.CIFAR100 if name == "cifar100" else torchvision.datasets.CIFAR10
        cls(str(root), train=True, download=True)
    return read_cifar(root, name)


def load(name: str, **kwargs) -> Dataset:
    """Any data set of the book by name (`mnist1d`, `digits`, `teacher`, `cifar10`, `cifar100`)."""
    if name not in DATASETS:
        raise ValueError(f"data={name!r} is not available; choose one of {', '.join(DATASETS)}")
    if name.startswith("cifar"):
        return cifar(name, **kwargs)
    return {"mnist1d": mnist1d, "digits": digits, "teacher": teacher}[name](**kwargs)

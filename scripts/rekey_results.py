"""Re-key stored results under today's config hashing (issue 29: one spectrum settings type, locations out
of the hash).

Two changes moved every config hash: the spectrum settings of a config now hold the SLQ probes' `seed` (and
`n_eigs`, the size of the "lanczos" method), and locations (`results.LOCATIONS`, e.g. `data_dir`) are left out
of the hash. For each `NAME-SCALE-HASH.json` in the folders given, this script checks the result (its fields,
its checksum, its arrays' checksum, and that its recorded hash is its config's under today's or the former
hashing), fills the spectrum fields the former settings lacked with the values those runs used, and, where
the key changes, writes it under the new key: the same arrays bytes under their new name first, then the
JSON, both atomically (`files.atomic_write`) under the result's lock, then removes the old pair. A result
already under today's key is left alone; one that fails a check is reported and left in place (exit status 1).

    .venv/bin/python scripts/rekey_results.py src/skiplessons/paper_results [results ...]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from skiplessons import results
from skiplessons.curvature import SpectrumSettings
from skiplessons.files import atomic_write, wait_for

#: what the spectrum settings of a result stored before this change lack, with the value its run used: the
#: probes' seed was `degeneracy.SpectrumSettings`' default 0 (the config's settings never set it), and no
#: experiment ran "lanczos", so `n_eigs` is today's default and changed nothing
FILLED = {"seed": 0, "n_eigs": SpectrumSettings().n_eigs}
#: the fields that mark a nested config dict as spectrum settings
SPECTRUM_FIELDS = {"method", "dense_max", "n_probes", "n_steps", "tols", "neg_tol"}


def former_hash(config: dict) -> str:
    """The config hash before this change: every field, locations included."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def upgraded(config: dict) -> dict:
    """`config` with every nested spectrum-settings dict given the `FILLED` fields it lacks."""
    out = {}
    for k, v in config.items():
        if isinstance(v, dict) and SPECTRUM_FIELDS <= set(v):
            v = FILLED | v
        out[k] = v
    return out


def checked(jpath: Path) -> tuple[dict, bytes]:
    """The JSON and the arrays' bytes of the result at `jpath`, or a ValueError saying which check failed."""
    meta = results.validate(json.loads(jpath.read_text()))
    if meta["checksum"] != results.checksum(meta):
        raise ValueError("its content does not match the checksum recorded in it")
    if jpath.stem != f"{meta['name']}-{meta['scale']}-{meta['config_hash']}":
        raise ValueError("its file name is not NAME-SCALE-HASH of the result it holds")
    if meta["config_hash"] not in (results.config_hash(meta["config"]), former_hash(meta["config"])):
        raise ValueError("its config matches its recorded hash under neither today's nor the former hashing")
    blob = (jpath.parent / Path(meta["arrays_file"]).name).read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta["arrays_sha256"]:
        raise ValueError("its arrays do not match the checksum recorded in the JSON")
    return meta, blob


def rekey(jpath: Path) -> str:
    """Re-key one result (module docstring); returns what was done, in a few words."""
    meta, blob = checked(jpath)
    config = upgraded(meta["config"])
    stem = results.key(meta["name"], meta["scale"], config)
    if stem == jpath.stem and config == meta["config"]:
        return "current"
    folder = jpath.parent
    new_json = folder / f"{stem}.json"
    if new_json.exists() and new_json != jpath:
        raise ValueError(f"{new_json.name} exists already (a result of the same config): remove one of the two")
    new_arrays = folder / f"{stem}.{meta['arrays_sha256'][:16]}.npz"
    old_arrays = folder / Path(meta["arrays_file"]).name
    meta = meta | {"config": config, "config_hash": results.config_hash(config), "arrays_file": new_arrays.name}
    meta["checksum"] = results.checksum(meta)
    results.validate(meta)
    with wait_for(results.lock(folder, stem), f"the result {stem}"):
        atomic_write(new_arrays, blob)
        atomic_write(new_json, json.dumps(meta, indent=1, sort_keys=True).encode())
    if results.read(new_json) is None:
        raise ValueError(f"{new_json.name} was written but does not read back")
    for old in (jpath, old_arrays):
        if old not in (new_json, new_arrays):
            old.unlink()
    return f"-> {new_json.name}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="results folders (e.g. src/skiplessons/paper_results)")
    args = parser.parse_args(argv)
    failed = 0
    for folder in args.folders:
        if not folder.is_dir():
            parser.error(f"folder {folder} does not exist")
        for jpath in sorted(folder.glob("*.json")):
            try:
                print(f"{jpath.name}: {rekey(jpath)}")
            except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
                failed += 1
                print(f"{jpath.name}: left in place, {e}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

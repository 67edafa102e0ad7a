"""Profiles: overlays on ``params.yaml`` that hold only the keys they change.

``profiles/<name>.yaml`` lists the keys whose values differ from ``params.yaml``; applying it
merges it onto the base, mappings key by key and lists and scalars replaced whole. Two ways to
run one::

    python -m labelnoise.profiles tiny        # params.yaml = committed params.yaml + tiny
    dvc exp run $(python -m labelnoise.profiles tiny --set-args)

Every key path of a profile must exist in ``params.yaml``: a misspelt key is an error, never a
silently ignored setting.
"""

from __future__ import annotations

import argparse
import copy
import io
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

PROFILES_DIR = "profiles"
PARAMS_FILE = "params.yaml"

# Strings written unquoted in -S values: YAML and Hydra (DVC's override parser) both read
# these as the same plain string, provided YAML does not read them as another type.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_HYDRA_WORDS = {"true", "false", "null", "inf", "nan"}  # any case, to Hydra
# -S arguments that `$(...)` word splitting hands to dvc as they are (no space, no quote).
_UNQUOTED_ARG = re.compile(r"[^\s'\"\\`$;&|<>()*?#~!]+")


def apply_profile(base: dict, overlay: dict, *, source: str = "profile") -> dict:
    """Merge a profile onto base params.

    Parameters
    ----------
    base : dict
        The full params mapping, e.g. ``params.yaml`` as read. Not modified.
    overlay : dict
        The profile: a mapping holding only the keys it changes. Not modified.
    source : str, keyword-only
        Name of the overlay (its path) in the error message.

    Returns
    -------
    dict
        A deep copy of ``base`` with ``overlay`` merged in: a mapping merges into the base's
        mapping at the same key path, recursively; lists and scalars replace the base's value.
        ruamel round-trip objects stay round-trip objects (their comments are kept).

    Raises
    ------
    ValueError
        When key paths of ``overlay`` do not exist in ``base``; the message names all of them,
        e.g. ``profiles/x.yaml: unknown keys train.epoch, clean.tvnet.episods``.
    """
    unknown = list(_unknown_paths(base, overlay, ()))
    if unknown:
        noun = "key" if len(unknown) == 1 else "keys"
        raise ValueError(f"{source}: unknown {noun} {', '.join(unknown)}")
    merged = copy.deepcopy(base)
    _merge_into(merged, overlay)
    return merged


def _unknown_paths(base: Any, overlay: Mapping, prefix: tuple[str, ...]) -> Iterator[str]:
    for key, value in overlay.items():
        path = (*prefix, str(key))
        if not isinstance(base, Mapping) or key not in base:
            yield ".".join(path)
        elif isinstance(value, Mapping):
            yield from _unknown_paths(base[key], value, path)


def _merge_into(target: dict, overlay: Mapping) -> None:
    for key, value in overlay.items():
        if isinstance(value, Mapping):
            _merge_into(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def profile_path(name: str, *, root: str | Path = ".") -> Path:
    """Path of the profile ``name``: ``<root>/profiles/<name>.yaml``.

    Parameters
    ----------
    name : str
        Profile name, without folder or ``.yaml`` suffix (``tiny``, ``gpu``).
    root : str or Path, keyword-only
        The project folder holding ``profiles/``.

    Returns
    -------
    Path
        The profile file, which exists.

    Raises
    ------
    ValueError
        When there is no such profile; the message lists the available ones.
    """
    folder = Path(root) / PROFILES_DIR
    path = folder / f"{name}.yaml"
    if name and Path(name).name == name and not name.startswith(".") and path.is_file():
        return path
    available = sorted(found.stem for found in folder.glob("*.yaml"))
    listed = ", ".join(available) if available else "none"
    raise ValueError(f"no profile {name!r} in {folder}/; available: {listed}")


def set_args(overlay: dict) -> list[str]:
    """The ``dvc exp run`` arguments that apply ``overlay`` to ``params.yaml``.

    Parameters
    ----------
    overlay : dict
        The profile mapping.

    Returns
    -------
    list of str
        ``["-S", "key.path=value", ...]``, one pair per leaf of ``overlay`` in its order. Values
        are YAML flow style without spaces (``noise.rates=[0.0,0.2]``), which DVC's Hydra
        override parser and a YAML 1.2 reader both read as the same value; floats always carry
        a dot (``1.0e-05``, not ``1e-05``). An empty mapping sets nothing.
    """
    args: list[str] = []
    for path, value in _leaves(overlay, ()):
        args += ["-S", f"{'.'.join(path)}={_render(value)}"]
    return args


def _leaves(overlay: Mapping, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in overlay.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping):
            yield from _leaves(value, path)
        else:
            yield path, value


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _render_float(float(value))
    if isinstance(value, str):
        return _render_str(str(value))
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_render(k)}: {_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_render(item) for item in value) + "]"
    raise ValueError(f"cannot write {value!r} ({type(value).__name__}) as a -S value")


def _render_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


def _render_str(value: str) -> str:
    from ruamel.yaml import YAML

    plain = _PLAIN.fullmatch(value) and value.lower() not in _HYDRA_WORDS
    if plain and YAML(typ="safe", pure=True).load(value) == value:
        return value
    # Quoted the same way for YAML and Hydra: no escapes, which the two spell differently.
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    raise ValueError(f"cannot write {value!r} as a -S value: both quotes or a backslash")


def _join(args: list[str]) -> str:
    # shlex.join would quote every list value ('noise.rates=[0.0,0.2]'), and `$(...)` passes
    # quotes on literally: quote only what word splitting cannot carry (then use eval).
    return " ".join(arg if _UNQUOTED_ARG.fullmatch(arg) else shlex.quote(arg) for arg in args)


def _yaml() -> Any:
    """A ruamel round-trip reader/writer (YAML 1.2, as DVC reads params) that keeps comments,
    flow lists and ``null`` as written."""
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class _Representer(RoundTripRepresenter):
        pass

    _Representer.add_representer(
        type(None),
        lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null"),
    )
    yaml = YAML()
    yaml.Representer = _Representer
    yaml.width = 4096
    return yaml


def _load(text: str, source: str) -> dict:
    from ruamel.yaml import YAMLError

    try:
        content = _yaml().load(text)
    except YAMLError as err:
        raise ValueError(f"{source}: not valid YAML ({err})") from None
    if not isinstance(content, Mapping):
        raise ValueError(f"{source}: expected a mapping at the top level")
    return content


def _base_params(root: str | Path) -> tuple[str, str]:
    """``(text, source)`` of the base params: ``params.yaml`` as committed at ``HEAD`` when
    ``root`` is in a git repository that holds it, else the file as it is on disk."""
    try:
        shown = subprocess.run(
            ["git", "show", f"HEAD:./{PARAMS_FILE}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # no git
        shown = None
    if shown is not None and shown.returncode == 0:
        return shown.stdout, f"HEAD:{PARAMS_FILE}"
    path = Path(root) / PARAMS_FILE
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    return path.read_text(), str(path)


def _merged(name: str, *, root: str | Path) -> tuple[dict, dict, str]:
    """``(merged params, overlay, base source)`` for profile ``name``, validated."""
    from labelnoise.params import validate

    path = profile_path(name, root=root)
    label = f"{PROFILES_DIR}/{path.name}"
    overlay = _load(path.read_text(), label)
    text, source = _base_params(root)
    merged = apply_profile(_load(text, source), overlay, source=label)
    validate(merged, source=f"{label} applied on {source}")
    return merged, overlay, source


def _write_atomically(target: Path, text: str) -> None:
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """``python -m labelnoise.profiles NAME [--set-args]``; exit status 2 on a bad profile."""
    parser = argparse.ArgumentParser(
        prog="python -m labelnoise.profiles",
        description="Write params.yaml as the committed params.yaml with profiles/NAME.yaml "
        "applied, or print the `dvc exp run` -S arguments that apply it.",
    )
    parser.add_argument("name", help="profile name: profiles/NAME.yaml")
    parser.add_argument(
        "--set-args",
        action="store_true",
        help="print the -S arguments for `dvc exp run $(...)` instead of writing params.yaml",
    )
    options = parser.parse_args(argv)
    try:
        merged, overlay, source = _merged(options.name, root=".")
        if options.set_args:
            print(_join(set_args(overlay)))
            return 0
        stream = io.StringIO()
        _yaml().dump(merged, stream)
        _write_atomically(Path(PARAMS_FILE), stream.getvalue())
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{PARAMS_FILE}: {PROFILES_DIR}/{options.name}.yaml applied on {source}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Atomic file output: a stage killed at any moment leaves the old file or the new one."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    The temporary name carries the writer's process id. A writer killed outright (SIGKILL, power
    cut of the process) cannot remove its temporary file; the next write of the same ``path``
    removes what writers that are no longer running left behind.

    Parameters
    ----------
    path
        Final destination. Its parent directories are created.
    directory
        Yield a temporary directory instead of a file name; an existing directory at ``path``
        is replaced as a whole (two renames: a kill between them leaves ``path`` absent, never
        half-written).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(final)
    prefix = f".{final.name}.tmp-{os.getpid()}-"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=final.parent))
        # mkdtemp creates 0700 and mkstemp 0600; outputs get the permissions any other new
        # directory or file would.
        os.chmod(tmp, 0o777 & ~_UMASK)
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp" + final.suffix, dir=final.parent)
        os.close(fd)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        if directory:
            _replace_directory(tmp, final)
        else:
            os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def _replace_directory(tmp: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        _remove(old)
        os.replace(final, old)
        os.replace(tmp, final)
        _remove(old)
    else:
        os.replace(tmp, final)


def _remove_stale(final: Path) -> None:
    """Remove the temporary files and directories of ``final`` whose writer has died."""
    pattern = re.compile(re.escape(f".{final.name}.") + r"(?:tmp-(\d+)-.*\.tmp.*|old-(\d+))")
    try:
        names = os.listdir(final.parent)
    except OSError:
        return
    for name in names:
        match = pattern.fullmatch(name)
        if match and not _running(int(match[1] or match[2])):
            _remove(final.parent / name)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        value = float(obj)
        return None if not np.isfinite(value) else value
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON; numpy scalars and arrays become plain numbers and lists,
    non-finite floats become ``null``."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file if it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def write_csv(df, path: str | os.PathLike, **kwargs: Any) -> None:
    """Write a pandas DataFrame as CSV without its index."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, **kwargs)


def read_path_label_csv(path: str | os.PathLike, *, expected: str, context: str = ""):
    """Read a CSV with at least ``path`` and ``label`` columns, every cell a stripped string.

    Parameters
    ----------
    path
        The CSV file.
    expected
        The columns the caller accepts, for the error message (e.g. ``"path,label[,split]"``).
    context
        A prefix for error messages naming the setting the file came from (e.g.
        ``"data.reviewed: "``).

    Returns
    -------
    pandas.DataFrame
        The table as read, column names stripped; empty cells are ``""``.

    Raises
    ------
    ValueError
        The file is not a readable CSV or lacks ``path`` or ``label``.
    """
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{context}{path}: not a readable CSV ({_one_line(err)})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("path", "label") if c not in table.columns]
    if missing:
        raise ValueError(
            f"{context}{path}: missing columns {', '.join(missing)} "
            f"(found {', '.join(table.columns)}); expected {expected}"
        )
    return table


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save one array in ``.npy`` format."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(array), allow_pickle=False)


def load_npy(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """Load a ``.npy`` array, memory-mapped read-only when ``mmap``; a missing, truncated or
    foreign file raises ``ValueError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    with open(path, "rb") as fh:
        magic = fh.read(len(np.lib.format.MAGIC_PREFIX))
    if magic != np.lib.format.MAGIC_PREFIX:
        raise ValueError(f"{path}: not a .npy array (no .npy header; empty or another format)")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npy array ({_one_line(err)})") from None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write text (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs: Any) -> None:
    """Save a matplotlib figure (format from the suffix) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    savefig_kwargs.setdefault("dpi", 120)
    savefig_kwargs.setdefault("bbox_inches", "tight")
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **savefig_kwargs)
    finally:
        plt.close(fig)

"""The data knobs, each declared once: its type, its default and its bounds.

:class:`DataConfig` declares the ``data`` section of ``params.yaml``; the params schema
(:class:`labelnoise.params.DataParams`) is built from it, and :func:`check` is what
:func:`labelnoise.data.generate_dataset`, :func:`labelnoise.data.import_dataset`, the polygons
(:mod:`labelnoise.data.alter`) and the base images (:mod:`labelnoise.data.base_images`) check
their arguments with, so a value the schema accepts is one they accept. The choices are the
``Literal`` types below; the tuples of valid names elsewhere are their ``get_args``. The classes
of each generated task are declared here too, as the rule that a split holds an image of each
needs them. The defaults are ``params.yaml``'s (``tests/test_params.py`` holds them equal). This
module imports the standard library alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from labelnoise import knobs
from labelnoise.knobs import knob

ImportKind = Literal["folder", "csv"]
"""Layouts of your own images: an ImageFolder tree or a CSV listing."""
Source = Literal["generate", ImportKind]
GeneratedTask = Literal["coarse", "fine"]
Task = Literal[GeneratedTask, "custom"]
Base = Literal["skimage", "procedural", "folder"]
Resize = Literal["crop", "pad", "stretch"]
OnBadImage = Literal["error", "skip"]
LinkMode = Literal["hardlink", "symlink", "auto"]
"""How ``results/cleaned|flagged`` point at your originals (``results.links``)."""

IMPORT_KINDS: tuple[str, ...] = get_args(ImportKind)
GENERATED_TASKS: tuple[str, ...] = get_args(GeneratedTask)

# The classes of the generated tasks: coarse labels the alteration's kind, fine its subclass
# (labelnoise.data.alter paints them).
COARSE_CLASSES = ("blobs", "blur", "channel_order", "hue")
FINE_CLASSES = (
    "blobs_red",
    "blobs_green",
    "blobs_blue",
    "blobs_multi",
    "gaussian_blur",
    "channels_bgr",
    "channels_brg",
    "channels_gbr",
    "channels_grb",
    "channels_rbg",
    "hue_red",
    "hue_green",
    "hue_blue",
    "hue_all",
)
FINE_TO_COARSE = (0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3)
TASK_CLASSES = {"coarse": COARSE_CLASSES, "fine": FINE_CLASSES}

SECTION = "data"


@dataclass(frozen=True)
class DataConfig:
    """The ``data`` section: what is generated, or how your own images are imported.

    ``area`` stays below 1: a polygon is drawn convex on an ellipse, so at an area of the whole
    image it would still leave corners out, and an alteration of every pixel (a channel
    permutation of a whole photo) would look like another photo rather than an altered region.
    """

    source: Source = "generate"
    path: str = knob("images", min_length=1)  # your images: a folder or a CSV
    task: Task = "coarse"  # custom: your own images' classes
    image_size: int = knob(32, ge=8, le=512)  # px, square
    base: Base = "skimage"  # what the alterations are painted on
    base_path: str | None = None  # folder of base photos when base is folder
    n_train: int = knob(3000, ge=1)
    n_val_per_class: int = knob(60, ge=1)
    n_test: int = knob(10000, ge=1)
    vertices: tuple[int, int] = knob((5, 9), ge=3, ordered=True, item="count")
    area: tuple[float, float] = knob((0.2, 0.4), gt=0.0, lt=1.0, ordered=True, item="fraction")
    crop_scale: tuple[float, float] = knob(
        (0.25, 1.0), gt=0.0, le=1.0, ordered=True, item="fraction"
    )
    chunk_size: int = knob(1024, ge=1)  # images made or decoded at a time
    val_fraction: float = knob(0.1, ge=0.0, lt=1.0)  # 0: carve no val split
    test_fraction: float = knob(0.2, ge=0.0, lt=1.0)  # 0: carve no test split
    resize: Resize = "crop"
    on_bad_image: OnBadImage = "error"
    workers: int = knob(0, ge=0)  # decoding threads, 0 = one per CPU core
    reviewed: str = knob("reviewed", min_length=1)  # a person's verdicts

    @staticmethod
    def joint(values: Mapping[str, Any]) -> list[str]:
        """The rules between data knobs that ``values`` breaks (each knob valid alone); a rule
        applies when its knobs are in ``values``. ``source`` says which images the values make:
        ``"generate"`` or an import kind."""
        found = []
        source = values.get("source")
        base, base_path = values.get("base"), values.get("base_path")
        if base == "folder" and "base_path" in values and base_path is None:
            found.append("data.base_path is required when data.base is 'folder'")
        if source == "generate" and base not in (None, "folder") and base_path is not None:
            found.append(
                f"data.base_path is only used when data.base is 'folder', not {base!r}; "
                f"got {base_path!r}"
            )
        if source == "generate":
            found += _generated_counts(values)
        fractions = [values.get("val_fraction"), values.get("test_fraction")]
        if source in IMPORT_KINDS and None not in fractions and sum(fractions) >= 1:
            found.append(
                "data.val_fraction + data.test_fraction must be < 1, got "
                f"{fractions[0]} + {fractions[1]}"
            )
        return found


DEFAULTS = DataConfig()
"""Every data knob at its default: the library functions' defaults."""


def check(values: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming every data knob in ``values`` that breaks its declaration
    (:class:`DataConfig`), and every rule between them that they break."""
    knobs.check(DataConfig, SECTION, values)


def n_classes(task: str) -> int:
    """Classes of a generated ``task``: 4 coarse, 14 fine."""
    return len(TASK_CLASSES[task])


def _generated_counts(values: Mapping[str, Any]) -> list[str]:
    """The generated task's rules: its classes, and at least one train and test image each."""
    task = values.get("task")
    if task is None:
        return []
    if task not in GENERATED_TASKS:
        return [
            f"data.task: {task!r} is for your own images (data.source folder or csv); "
            f"generated images are {' or '.join(GENERATED_TASKS)}"
        ]
    found = []
    classes = n_classes(task)
    for name in ("n_train", "n_test"):
        if name in values and values[name] < classes:
            found.append(
                f"data.{name} must be >= {classes} (the classes of data.task {task!r}), "
                f"got {values[name]}"
            )
    return found

"""The alteration example figure: original | region outlined | altered with outline | altered."""

from __future__ import annotations

import os

import numpy as np

from labelnoise.data.alter import FINE_CLASSES, alter, random_polygons
from labelnoise.data.base_images import base_crops

COLUMNS = ("original", "region", "altered + region", "altered")


def alterations_figure(
    *,
    image_size: int = 96,
    seed: int,
    base: str = "skimage",
    base_path: str | os.PathLike | None = None,
    vertices: tuple[int, int] = (5, 9),
    area: tuple[float, float] = (0.2, 0.4),
    crop_scale: tuple[float, float] = (0.25, 1.0),
    cell_inches: float = 1.6,
    **alter_params,
):
    """One row per fine subclass showing a base image before and after its alteration.

    Parameters
    ----------
    image_size
        Side of the example images in pixels (larger than the training size, to be legible).
    seed
        Random seed.
    base, base_path, vertices, area, crop_scale
        As in :func:`labelnoise.data.generate.generate_dataset`.
    cell_inches
        Size of one panel in inches.
    **alter_params
        Passed to :func:`labelnoise.data.alter.alter`.

    Returns
    -------
    matplotlib.figure.Figure
        14 x 4 panels (rows in ``FINE_CLASSES`` order, columns ``COLUMNS``).
    """
    from matplotlib.figure import Figure

    n = len(FINE_CLASSES)
    s_base, s_poly, s_alter = (
        int(c.generate_state(1)[0]) for c in np.random.SeedSequence(seed).spawn(3)
    )
    images, _ = base_crops(
        n, size=image_size, source=base, path=base_path, scale=crop_scale, seed=s_base
    )
    polys = random_polygons(n, size=image_size, vertices=vertices, area=area, seed=s_poly)
    altered = alter(images, polys.masks, np.arange(n), seed=s_alter, **alter_params)

    # Figure() without pyplot renders with Agg and leaves no global figure state behind.
    fig = Figure(figsize=(cell_inches * 4 + 1.4, cell_inches * n))
    axes = fig.subplots(n, 4, squeeze=False)
    for row, name in enumerate(FINE_CLASSES):
        outline = np.vstack([polys.vertices[row], polys.vertices[row][:1]])
        panels = (images[row], images[row], altered[row], altered[row])
        for col, (ax, img) in enumerate(zip(axes[row], panels, strict=True)):
            ax.imshow(img, interpolation="nearest")
            if col in (1, 2):
                ax.plot(outline[:, 0] - 0.5, outline[:, 1] - 0.5, color="yellow", lw=1.5)
                ax.set_xlim(-0.5, image_size - 0.5)
                ax.set_ylim(image_size - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(COLUMNS[col], fontsize=9)
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(left=0.2, right=0.99, top=0.98, bottom=0.01, wspace=0.05, hspace=0.08)
    return fig


def examples_figure(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: list[str],
    per_class: int = 8,
    seed: int,
    cell_inches: float = 1.1,
):
    """Random train images of every class, one row per class: what an imported dataset looks like.

    Parameters
    ----------
    images
        uint8 ``(n, H, W, 3)``.
    labels
        ``(n,)`` class indices into ``class_names``.
    per_class
        Images per row; a class with fewer shows all it has.
    """
    from matplotlib.figure import Figure

    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(cell_inches * per_class + 1.6, cell_inches * len(class_names)))
    axes = fig.subplots(len(class_names), per_class, squeeze=False)
    for row, name in enumerate(class_names):
        members = np.flatnonzero(labels == row)
        chosen = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(chosen):
                ax.imshow(images[chosen[col]], interpolation="nearest")
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    fig.suptitle("Examples of each class (given labels)")
    return fig

"""Datasets: generated alteration task, base images, on-disk storage."""

from labelnoise.data.alter import COARSE_CLASSES, FINE_CLASSES, FINE_TO_COARSE
from labelnoise.data.figure import alterations_figure, examples_figure
from labelnoise.data.generate import generate_dataset
from labelnoise.data.importer import import_dataset, link_tree
from labelnoise.data.store import Dataset, load_dataset, save_dataset

__all__ = [
    "COARSE_CLASSES",
    "FINE_CLASSES",
    "FINE_TO_COARSE",
    "Dataset",
    "alterations_figure",
    "examples_figure",
    "generate_dataset",
    "import_dataset",
    "link_tree",
    "load_dataset",
    "save_dataset",
]

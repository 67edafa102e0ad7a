"""labelnoise: measure what false labels do to image classifiers, and find and remove them."""

__version__ = "0.1.0"

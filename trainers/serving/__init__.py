"""Serving a trained model anywhere: the portable folder (the backbone's own architecture plus sentence-transformers'
modules, loadable without sentcse or remote code).

``export_portable(folder, out)`` (``sentcse-export FOLDER --to OUT``, ``sentcse-train --export portable``) writes it.
"""

from .portable import ExportError, export_portable, portable_reading

EXPORT_FORMATS = ("portable",)
# Where sentcse-train --export portable writes the folder: inside the run's output folder.
PORTABLE_FOLDER = "portable"

__all__ = ["EXPORT_FORMATS", "PORTABLE_FOLDER", "ExportError", "export_portable", "portable_reading"]

"""``sentcse-export``: a trained folder as a portable folder that every embedding stack loads without sentcse.

    sentcse-export FOLDER --to OUT [--format portable] [--overwrite]

FOLDER is the output of sentcse-train (or a sentcse model's ``save_pretrained``). OUT gets the backbone in its own
architecture (config, weights, tokenizer) with sentence-transformers' modules and a model card: no Python file, no
``trust_remote_code``. A reading that needs sentcse's code at inference (SARCSE with embedding_source cnn) is
refused in one line, as is bad input (exit status 2).
"""

import dataclasses
import sys
from collections.abc import Sequence

from transformers import HfArgumentParser

from ...modeling.configuration_simcse import CONFIG_ERRORS
from ..errors import error_line
from ..serving import EXPORT_FORMATS, ExportError, export_portable
from .arguments import UsageError, report_errors


@dataclasses.dataclass
class ExportArguments:
    folder: str = dataclasses.field(metadata={"help": "the trained folder (the output of sentcse-train)"})
    to: str = dataclasses.field(metadata={"help": "the folder to write"})
    format: str = dataclasses.field(default="portable", metadata={
        "choices": list(EXPORT_FORMATS), "help": "portable: the backbone's own architecture plus sentence-transformers "
        "modules (SentenceTransformer(OUT), AutoModel.from_pretrained(OUT); no sentcse, no trust_remote_code)"})
    overwrite: bool = dataclasses.field(default=False, metadata={"help": "replace what OUT holds"})
    traceback: bool = dataclasses.field(default=False, metadata={
        "help": "show the full traceback of a user error (also: SENTCSE_TRACEBACK=1)"})


def run(argv: Sequence[str] | None = None):
    """Parse ``argv`` and write the folder; returns its path. Raises ``UsageError`` for bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv = ["--folder", *argv]  # FOLDER is positional on the command line
    (args,) = HfArgumentParser(ExportArguments).parse_args_into_dataclasses(args=argv)
    try:
        out = export_portable(args.folder, args.to, overwrite=args.overwrite)
    except ExportError as error:
        raise UsageError(str(error)) from error
    except (OSError, *CONFIG_ERRORS) as error:
        raise UsageError(f"cannot export {args.folder!r}: {error_line(error)}") from error
    print(f"Saved the portable folder {out} (SentenceTransformer(path) or AutoModel.from_pretrained(path); no sentcse, "
          "no trust_remote_code)")
    return out


def main(argv: Sequence[str] | None = None):
    """Console entry point: a user error prints one line and exits with status 2."""
    return report_errors("sentcse-export", lambda: run(argv), argv, {UsageError: 2})


def cli() -> int:
    """The ``sentcse-export`` console script (exit status 0 once the folder is written)."""
    main()
    return 0


if __name__ == "__main__":
    main()

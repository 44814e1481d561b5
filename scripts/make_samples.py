"""Draw the bundled samples (pedagraph/data/samples/) again from a full copy of the datasets.

    python scripts/make_samples.py [--from DIR] [--out DIR]

DIR defaults to PEDAGRAPH_DATA_DIR, else ../shared/data beside the repository. The rule (the first rows of each
file, per pedagraph.datasets.samples.ROWS) is reproducible: drawing again from the same files gives the same bytes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pedagraph.datasets.samples import make_samples, samples_root

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, draw every sample, print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("PEDAGRAPH_DATA_DIR") or str(REPO.parent / "shared" / "data")
    parser.add_argument(
        "--from", dest="source", type=Path, default=Path(default), help="the full copy (default %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=samples_root(), help="where to write (default: the package)")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        sys.stderr.write(f"error: {args.source} is not a directory (pass --from DIR holding the full files)\n")
        return 1
    for path in make_samples(args.source, args.out):
        sys.stdout.write(f"{path} ({path.stat().st_size} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

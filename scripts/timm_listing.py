"""Rebuild the harness's listing of timm's zoo from the installed timm.

``harness models 'timm/*'`` reads 1,300 pretrained configs; importing torch and
timm to read them costs more than the search itself (about 5 s on a slow 2-core
machine). This script reads timm's registry (architectures, pretrained tags, in
timm's order) and every pretrained config's row of ``harness models`` (input
size, crop, interpolation, mean/std, classes) and writes them, with timm's
version, to ``harness/zoo/timm_listing.json.gz``. The harness uses the file only
when the installed timm is that version; any other is read live. Run it after
changing the timm the project is built with:

    python scripts/timm_listing.py
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's harness, as the package will ship it

from harness.zoo import timm_models  # noqa: E402


def write(listing: dict, output: Path) -> None:
    """``listing`` as gzipped JSON, the same bytes for the same listing."""
    text = json.dumps(listing, separators=(",", ":"))
    tmp = output.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as f:
        f.write(text.encode())  # no name, no time in the header
    tmp.replace(output)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", type=Path, default=timm_models.LISTING)
    args = p.parse_args(argv)
    listing = timm_models.live_listing()
    write(listing, args.output)
    print(
        f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB): timm "
        f"{listing['timm']}, {len(listing['architectures'])} architectures, "
        f"{len(listing['rows'])} pretrained configs",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

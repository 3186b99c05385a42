"""Writing results: atomic JSON and CSV files, terminal tables, and the machine a run is on."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A new file beside ``path`` to write; moved onto ``path`` if the block ends well.

    A reader (or a run killed halfway) sees the old file or the new one, never a
    truncated one; on an error the new file is removed and ``path`` left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other users
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (``replacing``)."""
    with (
        replacing(path) as tmp,
        open(tmp, "w", encoding="utf-8", errors="backslashreplace", newline="") as f,
    ):
        f.write(text)
    return Path(path)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def to_csv(rows: Sequence[Mapping[str, Any]], order: Sequence[str] = ()) -> str:
    """Rows of dicts as CSV text; a dict or list cell as JSON. The columns any row has, in
    ``order`` (a row type's ``rows.columns``), then any others in first-seen order.

    >>> print(to_csv([{"model": "m", "mean": [0.5, 0.5]}]), end="")
    model,mean
    m,"[0.5, 0.5]"
    >>> print(to_csv([{"b": 1}, {"a": 2, "c": 3}], order=("a", "b")), end="")
    a,b,c
    ,1,
    2,,3
    """
    seen: dict[str, None] = {}
    for r in rows:
        seen.update(dict.fromkeys(r))
    columns = [k for k in order if k in seen] + [k for k in seen if k not in order]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _cell(v) for k, v in r.items()})
    return buf.getvalue()


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1.

    >>> counted(1, "thread"), counted(2, "timm model")
    ('1 thread', '2 timm models')
    """
    return f"{n} {noun}{'s' * (n != 1)}"


def _cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, dict | list | tuple) else v


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain aligned text table; numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(cells[0]), *map(line, cells[1:])])


def _is_number(s: str) -> bool:
    try:
        float(s.rstrip("%"))
        return True
    except ValueError:
        return s in ("", "n/a")


def environment(precision: str) -> dict[str, Any]:
    """The machine and versions a run is made on, and (``date``) when it started."""
    import platform
    from importlib.metadata import version

    import lightning
    import torch
    import torchmetrics
    import torchvision

    import harness

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "python": platform.python_version(),
        "harness": harness.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
        "timm": version("timm"),  # without importing timm
        "precision": precision,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }

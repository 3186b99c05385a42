"""Peak memory as the operating system counts it (GNU time), and freed memory reused."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import asdict

import pytest

from harness.compare.parent import Spec
from tests.helpers import ROOT

GNU_TIME = "/usr/bin/time"


ALLOCATE = """
import json
import numpy as np
from harness.measure.speed import peak_rss_mib, track_memory
with track_memory() as mem:
    block = np.ones(300 * 2**20 // 8)  # np.ones writes, so every page is resident
print(json.dumps({"peak": peak_rss_mib(), **mem}))
"""


def test_peak_rss_agrees_with_gnu_time() -> None:
    """The OS's own count (GNU time -v) of a process that allocates 300 MiB."""
    if not (os.path.exists(GNU_TIME) and shutil.which(GNU_TIME)):
        pytest.skip(f"{GNU_TIME} is missing (apt-get install time)")
    done = subprocess.run(
        [GNU_TIME, "-v", sys.executable, "-c", ALLOCATE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(done.stdout.strip().splitlines()[-1])
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert found, done.stderr
    os_peak_mib = int(found.group(1)) / 1024
    assert got["peak"] == pytest.approx(os_peak_mib, rel=0.10)
    assert got["peak_rss_mib"] == pytest.approx(os_peak_mib, rel=0.10)
    assert got["rss_rise_mib"] == pytest.approx(300, rel=0.15)


@pytest.mark.skipif(not shutil.which("/usr/bin/time"), reason="GNU time (/usr/bin/time) absent")
def test_peak_memory_agrees_with_gnu_time(tmp_path, nips):
    """The child's own peak figure vs. `/usr/bin/time -v` on the same process."""
    spec = Spec(
        model="resnet18",
        run_dir=str(tmp_path),
        data=str(nips / "images"),
        limit=16,
        batch_size=16,
        num_workers=0,
        accelerator="cpu",
        latency_seconds=0.2,
    )
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(asdict(spec)))
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-m", "harness.compare.parent", str(spec_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    row = json.loads(spec.result_path().read_text())
    assert row["peak_memory_mib"] == pytest.approx(kib / 1024, rel=0.10)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_memory_is_reused_not_faulted_in_again() -> None:
    """The OS's page-fault count: a freed 64 MiB tensor's pages come back without faults.

    glibc hands blocks over 32 MiB back to the OS on free, so each new one faults
    every page in again (16,384 for 64 MiB); after ``reuse_freed_memory`` the heap
    keeps them; a loader worker puts the defaults back. Fresh interpreter: the
    allocator's settings are process-wide.
    """
    probe = (
        "import resource, torch\n"
        "from harness.data.malloc import return_freed_memory, reuse_freed_memory\n"
        "from harness.engine.speedups import prepare\n"
        "def faults():\n"
        "    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    for _ in range(4):\n"
        "        torch.ones(16 << 20)  # 64 MiB, every page written, freed at once\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start\n"
        "before = faults()\n"
        "reuse_freed_memory()\n"
        "return_freed_memory()  # as each loader worker starts: glibc's defaults again\n"
        "returned = faults()\n"
        "reuse_freed_memory.cache_clear()\n"
        "prepare(torch.nn.Conv2d(3, 8, 3))  # the harness's one way to a model sets it\n"
        "faults(), faults()  # the heap grows to hold them (in steps: small blocks lie between)\n"
        "print(before, returned, reuse_freed_memory(), faults())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    before, returned, ok, kept = done.stdout.split()
    assert int(before) >= 4 * 16384 * 0.9  # each block faulted in anew
    assert int(returned) >= 4 * 16384 * 0.9  # and again after the defaults came back
    assert ok == "True"
    assert int(kept) < 1000

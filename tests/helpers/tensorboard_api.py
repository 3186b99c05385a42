"""What TensorBoard's HPARAMS tab gets: its own server, asked through its hparams API.

The same requests the browser makes (``data/plugin/hparams/experiment`` and
``session_groups``), to a TensorBoard started in this process on a free port.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def hparams_tab(logdir: Path, sessions: int, timeout: float = 60) -> tuple[dict, list[dict]]:
    """The experiment (hparam and metric infos) and session groups once ``sessions`` are in."""
    from tensorboard import program

    tb = program.TensorBoard()
    tb.configure(argv=[None, "--logdir", str(logdir), "--port", "0", "--load_fast", "false"])
    base = tb.launch() + "data/plugin/hparams/"
    query = {"experimentName": "", "allowedStatuses": STATUSES, "colParams": [],
             "startIndex": 0, "sliceSize": 1000}  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        groups = _post(base + "session_groups", query).get("sessionGroups", [])
        if len(groups) >= sessions or time.monotonic() > deadline:
            return _post(base + "experiment", {"experimentName": ""}), groups
        time.sleep(0.5)


def metric_values(group: dict) -> dict[str, float]:
    """A session group's metrics as HPARAMS shows them: tag -> value."""
    return {m["name"]["tag"]: m["value"] for m in group["metricValues"]}

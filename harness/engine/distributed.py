"""Several machines: the node count a launcher implies, and DDP that gives up in time.

Lightning needs ``num_nodes`` x ``devices`` to equal the launcher's world size;
when they differ it either refuses with a traceback (torchrun, SLURM) or, with
its own variables, lets each node evaluate everything alone. The count is
therefore taken from the launcher (in Lightning's order: torchrun/TorchElastic,
then SLURM, then ``WORLD_SIZE``/``NODE_RANK``) and checked before any process
group forms.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from harness.errors import HarnessError, RunFailed

# how gloo and NCCL say that a peer went away
LOST = ("connection", "broken pipe", "closed", "reset by peer", "remote process exited")


@dataclass(frozen=True)
class Launch:
    """What the launcher's environment says about the run (None: it says nothing)."""

    source: str
    world_size: int | None = None
    nodes: int | None = None
    per_node: int | None = None
    node_rank: int = 0


def launch(env: Mapping[str, str] | None = None) -> Launch:
    """The launcher of this process, read from ``env`` (default: ``os.environ``).

    >>> launch({"WORLD_SIZE": "4", "NODE_RANK": "1"})
    Launch(source='WORLD_SIZE=4', world_size=4, nodes=None, per_node=None, node_rank=1)
    """
    env = os.environ if env is None else env
    if "TORCHELASTIC_RUN_ID" in env:  # torchrun, as torch.distributed.is_torchelastic_launched
        world, local = _int(env, "WORLD_SIZE"), _int(env, "LOCAL_WORLD_SIZE")
        nodes = _int(env, "GROUP_WORLD_SIZE", world // max(local, 1))
        return Launch("torchrun", world, nodes, local, _int(env, "GROUP_RANK", 0))
    if "SLURM_NTASKS" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        per = env.get("SLURM_NTASKS_PER_NODE", "")  # "2(x3)" when nodes differ: not checked
        return Launch(
            "SLURM",
            _int(env, "SLURM_NTASKS"),
            _int(env, "SLURM_NNODES", _int(env, "SLURM_JOB_NUM_NODES", 1)),
            int(per) if per.isdigit() else None,
            _int(env, "SLURM_NODEID", 0),
        )
    rank = _int(env, "NODE_RANK", _int(env, "GROUP_RANK", 0))  # as LightningEnvironment
    if "WORLD_SIZE" in env:
        return Launch(f"WORLD_SIZE={env['WORLD_SIZE']}", _int(env, "WORLD_SIZE"), node_rank=rank)
    return Launch("", node_rank=rank)


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    value = env.get(name, "")
    if value.strip().isdigit():
        return int(value)
    if default is not None and name not in env:
        return default
    raise HarnessError(f"launcher environment variable {name}={value!r} is not a whole number")


def num_nodes(asked: int | None, devices: int, env: Mapping[str, str] | None = None) -> int:
    """The node count: ``asked`` (``--num-nodes``), else the launcher's; checked against it.

    ``devices`` is the number of processes per node. A count that does not fit
    the launcher, or a node rank beyond the count, is a HarnessError.

    >>> num_nodes(None, 1, {"WORLD_SIZE": "2", "NODE_RANK": "1"})
    2
    """
    got = launch(env)
    nodes = asked or got.nodes or (got.world_size // devices if got.world_size else 1)
    where = f" ({got.source})" if got.source else ""
    if got.per_node is not None and got.per_node != devices:
        raise HarnessError(
            f"--devices {devices}, but the launcher starts {got.per_node} processes per node"
            f"{where}: pass --devices {got.per_node}"
        )
    if got.world_size is not None and max(nodes, 1) * devices != got.world_size:
        hint = got.world_size // devices if got.world_size % devices == 0 else None
        fix = f"pass --num-nodes {hint}" if hint else "--devices must divide the world size"
        raise HarnessError(
            f"{nodes} node(s) x --devices {devices} = {nodes * devices} processes, but the "
            f"launcher's world size is {got.world_size}{where}: {fix}"
        )
    if got.node_rank >= nodes:
        raise HarnessError(
            f"this is node rank {got.node_rank}, but the run has {nodes} node(s): "
            "pass --num-nodes or set WORLD_SIZE (processes in all) on every node"
        )
    return nodes


def per_node(devices: int | str, device_type: str) -> int:
    """How many processes ``--devices`` starts on each node (``auto``: every GPU, or 1 CPU)."""
    if isinstance(devices, int):
        return devices
    if devices in ("auto", "-1"):
        import torch

        return torch.cuda.device_count() if device_type == "cuda" else 1
    if device_type != "cuda":
        raise HarnessError(f"--devices {devices} names GPUs; on the CPU give a number of processes")
    return len([d for d in devices.split(",") if d.strip()])  # GPU ids "0,1"


def strategy(name: str, world_size: int, timeout: float) -> Any:
    """Lightning's strategy ``name``; a DDP one gives up after ``timeout`` seconds.

    The timeout bounds every collective: nodes joining at the start, the slowest
    node finishing its share at the end, and a node that hangs.
    """
    from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry

    key = "ddp" if name == "auto" and world_size > 1 else name
    entry = dict.get(StrategyRegistry, key)  # its .get() would build the strategy
    if entry is None or entry["strategy"] is not DDPStrategy:  # ddp, ddp_spawn, ddp_fork, ...
        return name
    return entry["strategy"](**entry["init_params"], timeout=timedelta(seconds=timeout))


def failure(e: BaseException, timeout: float) -> RunFailed | None:
    """One line for a distributed run that lost a process, or None if ``e`` is not that."""
    import torch.distributed as dist

    if not dist.is_available() or not isinstance(e, (RuntimeError, dist.DistError)):
        return None
    first = (str(e).strip().splitlines() or [""])[0]
    # gloo's "[.../pair.cc:561] Connection closed by peer [ip]:port. This is typically ..."
    text = re.sub(r"^\[[^\]]*\]\s*", "", first).split(" This is typically")[0]
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered or isinstance(e, dist.DistStoreError):
        what = f"no answer within --dist-timeout {timeout:g} s (a node hung or never started?)"
    elif isinstance(e, dist.DistNetworkError) or any(k in lowered for k in LOST):
        what = "lost contact with another process (a node died?)"
    else:
        return None
    return RunFailed(f"distributed run stopped: {what}: {text}")

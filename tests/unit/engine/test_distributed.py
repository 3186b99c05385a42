"""harness.engine.distributed: node counts from launchers, DDP timeouts, one-line failures."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy

from harness.cli.main import main
from harness.data.datamodule import Samples, check_same_samples
from harness.engine.distributed import failure, launch, num_nodes, per_node, strategy
from harness.engine.runs import RunConfig, trainer
from harness.errors import HarnessError

TORCHRUN = {  # what torchrun --nnodes 2 --nproc-per-node 2 gives a worker of node 1
    "TORCHELASTIC_RUN_ID": "none",
    "WORLD_SIZE": "4",
    "LOCAL_WORLD_SIZE": "2",
    "GROUP_WORLD_SIZE": "2",
    "GROUP_RANK": "1",
    "RANK": "3",
    "LOCAL_RANK": "1",
}
SLURM = {  # sbatch --nodes 3 --ntasks-per-node 2, a task of the last node
    "SLURM_NTASKS": "6",
    "SLURM_NNODES": "3",
    "SLURM_NTASKS_PER_NODE": "2",
    "SLURM_NODEID": "2",
    "SLURM_JOB_NAME": "eval",
}


@pytest.mark.parametrize(
    ("env", "devices", "nodes"),
    [
        ({}, 1, 1),
        ({}, 4, 1),
        ({"WORLD_SIZE": "2", "NODE_RANK": "1"}, 1, 2),  # Lightning's variables
        ({"WORLD_SIZE": "8", "NODE_RANK": "0"}, 2, 4),
        ({"WORLD_SIZE": "2", "GROUP_RANK": "1"}, 1, 2),
        (TORCHRUN, 2, 2),
        (SLURM, 2, 3),
        (SLURM | {"SLURM_JOB_NAME": "interactive"}, 1, 1),  # Lightning ignores SLURM here too
    ],
)
def test_node_count_from_the_launcher(env: dict[str, str], devices: int, nodes: int) -> None:
    assert num_nodes(None, devices, env) == nodes
    assert num_nodes(nodes, devices, env) == nodes  # the same count given explicitly


@pytest.mark.parametrize(
    ("asked", "env", "devices", "says"),
    [
        (None, {"NODE_RANK": "1"}, 1, "node rank 1, but the run has 1 node(s)"),
        (2, {"NODE_RANK": "2"}, 1, "node rank 2, but the run has 2 node(s)"),
        (3, {"WORLD_SIZE": "2"}, 1, "3 node(s) x --devices 1 = 3 processes, but the launcher's"),
        (None, {"WORLD_SIZE": "3"}, 2, "--devices must divide the world size"),
        (None, TORCHRUN, 1, "--devices 1, but the launcher starts 2 processes per node"),
        (1, TORCHRUN, 2, "world size is 4 (torchrun): pass --num-nodes 2"),
        (None, SLURM, 3, "starts 2 processes per node (SLURM): pass --devices 2"),
        (2, SLURM, 2, "world size is 6 (SLURM): pass --num-nodes 3"),
        (None, {"WORLD_SIZE": "two"}, 1, "WORLD_SIZE='two' is not a whole number"),
        (None, TORCHRUN | {"LOCAL_WORLD_SIZE": ""}, 2, "LOCAL_WORLD_SIZE='' is not"),
    ],
)
def test_counts_that_do_not_fit_are_refused(
    asked: int | None, env: dict[str, str], devices: int, says: str
) -> None:
    with pytest.raises(HarnessError) as e:
        num_nodes(asked, devices, env)
    assert says in str(e.value)


def test_launch_reads_torchrun() -> None:
    assert launch(TORCHRUN) == launch(TORCHRUN | {"GROUP_WORLD_SIZE": "2"})
    got = launch(TORCHRUN)
    assert (got.source, got.world_size, got.nodes, got.per_node, got.node_rank) == (
        "torchrun",
        4,
        2,
        2,
        1,
    )


def test_devices_per_node() -> None:
    assert per_node(3, "cpu") == 3
    assert per_node("auto", "cpu") == 1  # as Lightning's CPUAccelerator.auto_device_count
    assert per_node("0,1", "cuda") == 2


def test_ddp_strategies_get_the_timeout() -> None:
    assert strategy("auto", 1, 5) == "auto"  # one process: no process group at all
    for name, start in (("auto", "popen"), ("ddp", "popen"), ("ddp_spawn", "spawn")):
        s = strategy(name, 2, 7.5)
        assert isinstance(s, DDPStrategy)
        assert s._timeout == timedelta(seconds=7.5) and s._start_method == start
    assert strategy("deepspeed", 2, 5) == "deepspeed"  # not a DDP strategy: left to Lightning


def test_trainer_gets_nodes_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "NODE_RANK", "GROUP_RANK", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    t = trainer(RunConfig(accelerator="cpu", progress=False, dist_timeout=9))
    assert (t.num_nodes, t.num_devices) == (2, 1)
    assert t.strategy._timeout == timedelta(seconds=9)  # type: ignore[attr-defined]


GLOO_CLOSED = (
    "[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:561] Connection closed by peer "
    "[127.0.0.1]:45269. This is typically caused by a remote worker crashing. GLHF!"
)


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            RuntimeError(GLOO_CLOSED),
            "lost contact with another process (a node died?): "
            "Connection closed by peer [127.0.0.1]:45269.",
        ),
        (
            RuntimeError("[x/unbound_buffer.cc:78] Timed out waiting 15000ms for recv operation"),
            "no answer within --dist-timeout 15 s (a node hung or never started?): Timed out",
        ),
        (
            dist.DistBackendError(
                "NCCL error in: ProcessGroupNCCL.cpp:3356, remote process exited or there was a "
                "network error, NCCL version 2.27.3"
            ),
            "lost contact with another process (a node died?): NCCL error in",
        ),
        (
            dist.DistStoreError("Timed out after 16 seconds waiting for clients. 1/2 joined."),
            "no answer within --dist-timeout 15 s",
        ),
    ],
)
def test_distributed_failures_are_one_line(error: Exception, says: str) -> None:
    got = failure(error, 15)
    assert got is not None and says in str(got) and "\n" not in str(got)
    assert "GLHF" not in str(got)


def test_other_errors_are_left_alone() -> None:
    assert failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"), 15) is None
    assert failure(ValueError("connection"), 15) is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(tiny_images: list[Path], *extra: str) -> int:
    data = str(tiny_images[0].parent)
    fast = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]
    return main(
        [
            "test",
            "--model",
            "squeezenet1_1",
            "--weights",
            "none",
            "--data",
            data,
            *fast,
            "--output",
            str(tiny_images[0].parent / "out"),
            *extra,
        ]
    )


@pytest.mark.parametrize(
    ("env", "extra", "says"),
    [
        ({"NODE_RANK": "1"}, [], "this is node rank 1, but the run has 1 node(s)"),
        ({"WORLD_SIZE": "2"}, ["--num-nodes", "3"], "pass --num-nodes 2"),
        (TORCHRUN, [], "pass --devices 2"),
    ],
)
def test_cli_refuses_a_count_that_does_not_fit(
    tiny_images: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    extra: list[str],
    says: str,
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert run(tiny_images, *extra) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("harness: error: ")
    assert says in err
    assert not (tiny_images[0].parent / "out").exists()


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """Lightning's launcher leaves LOCAL_RANK and the like in os.environ: later runs must not."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_a_node_that_never_comes_ends_the_run_at_the_timeout(
    tiny_images: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_environ: None,
) -> None:
    """Node 0 of 2 alone on loopback: the other never joins; --dist-timeout 2 ends the wait."""
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("NODE_RANK", "0")
    assert run(tiny_images, "--dist-timeout", "2") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(
        "harness: error: distributed run stopped: no answer within --dist-timeout 2 s"
    )
    assert "Traceback" not in "\n".join(err)
    assert not (tiny_images[0].parent / "out").exists()


def fake_ranks(monkeypatch: pytest.MonkeyPatch, other: object) -> None:
    """A second process whose all_gather_object contribution is ``other``."""
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)

    def gather(out: list, mine: object) -> None:
        out[:] = [mine, other]

    monkeypatch.setattr(dist, "all_gather_object", gather)


def test_nodes_must_list_the_same_images(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = [tmp_path / "a.png", tmp_path / "b.png"]
    seen: list[object] = []
    fake_ranks(monkeypatch, None)
    monkeypatch.setattr(dist, "all_gather_object", lambda out, mine: seen.append(mine))
    check_same_samples(Samples(tmp_path, files, [1, 2], "files"))
    mine = seen[0]
    fake_ranks(monkeypatch, mine)  # the same list on the other node: fine
    check_same_samples(Samples(tmp_path, files, [1, 2], "files"))
    elsewhere = Path("/mnt/other")  # the same names under another mount point: fine too
    check_same_samples(Samples(elsewhere, [elsewhere / "a.png", elsewhere / "b.png"], [1, 2], ""))
    for files2, labels in (([files[0]], [1]), (files, [1, 3]), (files[::-1], [2, 1])):
        with pytest.raises(HarnessError, match="list different images"):
            check_same_samples(Samples(tmp_path, files2, labels, "files"))


@pytest.mark.parametrize("value", ["0", "-2", "abc", "1.5", ",", ""])
def test_devices_option_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.main import build_parser

    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["test", "--model", "m", "--devices", value])
    assert e.value.code == 2
    assert "--devices: expected a number of devices of at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "taken"), [("1", "1"), ("4", "4"), ("auto", "auto"), ("-1", "auto"), ("0,1", "0,1")]
)
def test_devices_option_accepted(value: str, taken: str) -> None:
    from harness.cli.main import build_parser

    assert build_parser().parse_args(["test", "--model", "m", "--devices", value]).devices == taken


def test_devices_minus_one_on_the_cpu_runs(tiny_images: list[Path]) -> None:
    """Lightning's -1 ("all") is for GPUs: on the CPU it means one process, as auto does."""
    assert run(tiny_images, "--devices", "-1") == 0


def test_gpu_ids_on_the_cpu_are_one_line(
    tiny_images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tiny_images, "--devices", "0,1") == 2
    out, err = capsys.readouterr()
    assert (
        out == ""
        and err
        == "harness: error: --devices 0,1 names GPUs; on the CPU give a number of processes\n"
    )

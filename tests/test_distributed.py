"""One run over several processes (`cnnlab train --nproc-per-node N`), for real: torchrun
starts gloo ranks on this CPU. Two processes write one run folder whose losses are the
single-process run's with the same global batch and seed (a model without BatchNorm: the
step is then the same sum, so the tolerance is float32 rounding, 1e-5 relative); the run
resumes on two processes and is refused on another count; a rank killed with SIGKILL, or
one that stops answering, fails the run naming what happened without hanging; two "nodes"
on localhost train one run that only node 0 records. Mistakes are said before any process
starts. The NCCL path (world size 1 is a real NCCL group) needs a CUDA device."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from engine_helpers import wait_for

from engine.cli import main
from engine.runs import RunStore
from engine.trainer.config import TrainConfig
from engine.trainer.distributed import Distributed, world_size_problem
from engine.trainer.epoch import train_batches
from engine.trainer.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5  # relative: the same sums in another order, in float32
# No BatchNorm (each rank would normalise over its half of the batch) and a global batch
# of 33 that two ranks split 17 + 16: the loss weighting must make up for it.
MLP = {
    "dataset": "shapes", "image_size": 16, "model": "mlp", "model_options": {"hidden": [64]},
    "batch_size": 33, "lr": 1e-3, "device": "cpu", "max_train_batches": 20, "seed": 3,
}  # fmt: skip
FLAGS = [
    "--dataset", "shapes", "--image-size", "16", "--model", "mlp", "--model-opt", "hidden=[64]",
    "--batch-size", "33", "--lr", "1e-3", "--device", "cpu", "--max-train-batches", "20",
    "--seed", "3",
]  # fmt: skip
pytestmark = pytest.mark.timeout(400)


def cnnlab(runs: Path, *args: str, timeout: float = 240, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "train", *args, "--runs-dir", str(runs)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", **env},
    )  # fmt: skip


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------- the pieces, in one process


def test_a_global_batch_is_split_into_shards_that_weigh_as_the_whole():
    index = torch.arange(33)
    ranks = [Distributed(r, 2, r, "gloo", torch.device("cpu")) for r in range(2)]
    shards = [rank.shard(index) for rank in ranks]
    assert sorted(torch.cat(shards).tolist()) == index.tolist()
    assert [len(s) for s in shards] == [17, 16]
    # DDP averages the 2 ranks' gradients of weight × (their mean loss): every image then
    # counts 1/33, as in the global batch's mean
    weights = [rank.loss_weight(len(s), 33) for rank, s in zip(ranks, shards, strict=True)]
    for weight, shard in zip(weights, shards, strict=True):
        assert weight / len(shard) / 2 == pytest.approx(1 / 33)
    assert weights == pytest.approx([34 / 33, 32 / 33])


def test_a_trailing_batch_too_small_for_every_rank_is_dropped():
    assert train_batches(100, 32, None) == 4  # 4 images left: one process keeps them
    assert train_batches(100, 32, None, min_last=4) == 4
    assert train_batches(100, 32, None, min_last=6) == 3  # three ranks: two images each


def test_a_run_resumes_on_the_same_number_of_processes_only():
    assert world_size_problem(2, 2, "r") is None
    assert "trained on 2 process(es)" in world_size_problem(2, 1, "r")
    assert "--nproc-per-node × --nnodes = 2" in world_size_problem(2, 4, "r")
    assert "one process" in world_size_problem(1, 2, "r")


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ("--nproc-per-node 0", "--nproc-per-node and --nnodes are at least 1"),
        ("--nproc-per-node 2 --nnodes 2", "several machines need --rdzv-endpoint"),
        ("--nproc-per-node 1 --nnodes 2 --node-rank 2 --rdzv-endpoint h:1", "--node-rank is 0 … 1"),
        ("--nproc-per-node 2 --sync-bn", "SyncBatchNorm runs on CUDA only"),
        ("--nproc-per-node 20", "--batch-size 40 or more"),
        ("--nproc-per-node 2 --nnodes 2 --rdzv-endpoint h:1 --detach", "starts in the foreground"),
    ],
)
def test_mistakes_are_said_before_any_process_starts(tmp_path, capsys, flags, said):
    started = time.monotonic()
    code = main(["train", *FLAGS, "--runs-dir", str(tmp_path), *flags.split()])
    assert code == 2
    assert said in " ".join(capsys.readouterr().err.split())
    assert not any(tmp_path.iterdir()) and time.monotonic() - started < 30


# ---------------------------------------------------------------- real ranks (gloo)


@pytest.mark.slow
def test_two_processes_match_one_and_resume_on_two_only(tmp_path, one_thread):
    single = Trainer(TrainConfig(**MLP, epochs=2), runs_dir=tmp_path / "single")
    assert single.run() == "completed"
    expected = metrics(single.run_dir)

    runs = tmp_path / "runs"
    code, text = finish(cnnlab(runs, *FLAGS, "--epochs", "1", "--nproc-per-node", "2"))
    assert code == 0, text
    (run,) = RunStore(runs).list_runs()  # one folder, written by rank 0 alone
    assert run.status == "completed" and "2 processes (gloo)" in run.summary["device"]
    first = metrics(run.path)
    assert len(first) == 1 and len(text.split("run folder:")) == 2  # rank 1 says nothing
    for key in ("train_loss", "test_loss"):
        assert close(first[0][key], expected[0][key]), (key, first[0], expected[0])

    assert run.config["nproc_per_node"] == 2  # the run's config says how it trains
    refused = subprocess.run(
        [sys.executable, "-m", "engine.cli", "train", "--resume", run.run_id, "--epochs", "2",
         "--nproc-per-node", "1", "--runs-dir", str(runs)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "trained on 2 process(es)" in " ".join(refused.stderr.split())
    # without --nproc-per-node the resume launches the two processes its config names
    code, text = finish(cnnlab(runs, "--resume", run.run_id, "--epochs", "2"))
    assert code == 0, text
    resumed = metrics(run.path)
    assert [row["epoch"] for row in resumed] == [1, 2]
    # every rank's random state came back: epoch 2 is the uninterrupted run's epoch 2
    for key in ("train_loss", "test_loss"):
        assert close(resumed[1][key], expected[1][key]), (key, resumed[1], expected[1])
    assert len(RunStore(runs).list_runs()) == 1


def _rank_pids(launcher: int) -> dict[int, int]:
    """{rank: pid} of the processes torchrun started (children of the launcher)."""
    found = {}
    for children in glob.glob(f"/proc/{launcher}/task/*/children"):
        for pid in map(int, Path(children).read_text().split()):
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for item in env:
                if item.startswith(b"RANK="):
                    found[int(item[5:])] = pid
    return found


def _start_long_run(runs: Path, **env: str) -> tuple[subprocess.Popen, dict[int, int]]:
    process = cnnlab(
        runs, *FLAGS, "--epochs", "50", "--max-train-batches", "1000", "--batch-size", "4",
        "--nproc-per-node", "2", **env,
    )  # fmt: skip
    wait_for(lambda: glob.glob(f"{runs}/*/batches.jsonl") or process.poll(), "training")
    assert process.poll() is None, finish(process)
    ranks = wait_for(lambda: (found := _rank_pids(process.pid)).keys() == {0, 1} and found,
                     "two ranks")  # fmt: skip
    return process, ranks


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads ranks from /proc")
def test_a_rank_killed_fails_the_run_naming_it_without_a_hang(tmp_path):
    runs = tmp_path / "runs"
    process, ranks = _start_long_run(runs)
    os.kill(ranks[1], signal.SIGKILL)
    killed = time.monotonic()
    code, text = finish(process, timeout=120)
    assert code == 1 and time.monotonic() - killed < 60, text
    said = f"rank 1 (pid {ranks[1]}) was killed by SIGKILL; the run was stopped"
    assert said in " ".join(text.split())
    (run,) = RunStore(runs).list_runs()
    assert run.status == "failed" and run.summary["error"] == said
    assert "killed by SIGKILL" in (run.path / "run.log").read_text()
    assert "Traceback" not in text


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads ranks from /proc")
def test_a_rank_that_stops_answering_times_out_and_fails_the_run(tmp_path):
    runs = tmp_path / "runs"
    process, ranks = _start_long_run(runs, CNNLAB_DDP_TIMEOUT="4")
    os.kill(ranks[1], signal.SIGSTOP)  # alive, but silent: rank 0 waits out its timeout
    stopped = time.monotonic()
    try:
        code, text = finish(process, timeout=150)
    finally:
        for pid in ranks.values():  # torchrun killed them; in case it did not
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    # 4 s of collective timeout, then torchrun's 30 s grace before SIGKILL to the stopped one
    assert code == 1 and time.monotonic() - stopped < 90, text
    (run,) = RunStore(runs).list_runs()
    assert run.status == "failed" and run.summary["error"].startswith("rank 0 failed:")
    assert "Timed out" in run.summary["error"], run.summary["error"]


@pytest.mark.slow
def test_two_nodes_on_localhost_train_one_run_that_node_0_records(tmp_path, one_thread):
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [
        cnnlab(tmp_path / f"node{rank}", *FLAGS, "--epochs", "1", "--nproc-per-node", "1",
               "--nnodes", "2", "--node-rank", str(rank), "--rdzv-endpoint", endpoint)
        for rank in (0, 1)
    ]  # fmt: skip
    results = [finish(node) for node in nodes]
    assert [code for code, _ in results] == [0, 0], results
    (run,) = RunStore(tmp_path / "node0").list_runs()
    assert run.status == "completed" and "2 processes (gloo)" in run.summary["device"]
    assert not RunStore(tmp_path / "node1").list_runs()  # node 1 trains, node 0 records
    single = Trainer(TrainConfig(**MLP, epochs=1), runs_dir=tmp_path / "single")
    assert single.run() == "completed"
    (got,), (want,) = metrics(run.path), metrics(single.run_dir)
    assert close(got["train_loss"], want["train_loss"]), (got, want)


# ---------------------------------------------------------------- NCCL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_nccl_world_size_one_trains_a_run_on_the_gpu(tmp_path):
    runs = tmp_path / "runs"
    flags = ["cuda" if flag == "cpu" else flag for flag in FLAGS]
    code, text = finish(cnnlab(runs, *flags, "--epochs", "1", "--nproc-per-node", "1"))
    assert code == 0, text
    (run,) = RunStore(runs).list_runs()
    assert run.status == "completed" and "1 process (nccl)" in run.summary["device"]


def test_each_rank_gets_the_launcher_s_flags_without_the_launch_ones():
    from engine.cli.train_distributed import _worker_argv

    argv = ["-v", "train", "--lr", "1e-3", "--nproc-per-node", "2", "--nnodes=2",
            "--rdzv-endpoint", "h:1", "--node-rank", "1", "--epochs", "3"]  # fmt: skip
    # --nproc-per-node is the run's own setting (its config.json says it), so ranks keep it
    assert _worker_argv(argv, "RUN") == [
        "-v", "train", "--lr", "1e-3", "--nproc-per-node", "2", "--epochs", "3", "--run-id", "RUN",
    ]  # fmt: skip
    assert _worker_argv(["train", "--nnodes=2"], None) == ["train"]

"""What happens with two trainer threads in one process, each bound to its CPU lane.

torch's intra-op thread count is an OpenMP setting, and OpenMP keeps it per calling thread:
so each lane thread sets its own (`bind_thread`) and the engine can run its CPU lanes as
threads of one process, not subprocesses. Measured for real in a fresh process (whose
default would be 2 threads): the threads that exist while both lanes compute are counted
from /proc — one thread per lane, and one OpenMP worker more only where a lane asked for 2.
A thread that never sets a count inherits the last one set anywhere, so every lane sets one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = r"""
import json, os, sys, threading, time
import torch
from engine.trainer.device import bind_thread

def work(threads, seen, name, ready, go):
    bind_thread("cpu", threads)
    seen[name] = torch.get_num_threads()
    x = torch.randn(32, 16, 24, 24)
    w = torch.randn(32, 16, 3, 3, requires_grad=True)
    torch.nn.functional.conv2d(x, w).sum().backward()  # OpenMP teams made by now
    ready.release()
    go.wait()

counts = [int(c) for c in sys.argv[1].split(",")]
before = len(os.listdir("/proc/self/task"))
seen, ready, go = {}, threading.Semaphore(0), threading.Event()
threads = [threading.Thread(target=work, args=(n, seen, f"lane{i}", ready, go))
           for i, n in enumerate(counts)]
for t in threads:
    t.start()
for _ in threads:
    ready.acquire()
during = len(os.listdir("/proc/self/task"))
go.set()
for t in threads:
    t.join()
print(json.dumps({"extra": during - before, "seen": seen, "main": torch.get_num_threads()}))
"""


def _probe(counts: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, counts], capture_output=True, text=True, env=env,
        cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_each_lane_thread_keeps_its_own_intra_op_thread_count():
    single = _probe("1,1")
    assert single["seen"] == {"lane0": 1, "lane1": 1}
    # A thread that never set its own count takes the last one set (torch also keeps it as
    # the process default for threads it initialises later): so every lane sets its own.
    assert single["main"] == 1
    assert single["extra"] == 2  # the two lane threads and no OpenMP worker
    mixed = _probe("1,2")
    assert mixed["seen"] == {"lane0": 1, "lane1": 2}
    assert mixed["extra"] == 3  # lane1's team adds exactly one worker

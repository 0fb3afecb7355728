"""engine/cpu_malloc.py: after reuse_freed_memory, a big tensor allocated and freed again and again reuses its
memory (no fresh pages a time) instead of mapping new pages on each allocation."""

import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys, torch
from engine.cpu_malloc import reuse_freed_memory

def faults_per_round():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        t = torch.empty(48 * 2**20 // 4)   # 48 MiB: above glibc's largest mmap threshold
        t.fill_(1.0)                       # touch every page
        del t
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10

default = faults_per_round()
took = reuse_freed_memory()
faults_per_round()                         # the heap grows once
print(default, took, faults_per_round())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_big_tensors_are_reused_instead_of_faulted_in_again():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout.split()
    default, took, after = float(out[0]), out[1] == "True", float(out[2])
    assert took
    if default < 1_000:                # transparent huge pages: few faults either way, nothing to tell apart
        pytest.skip(f"{default:.0f} page faults per 48 MiB allocation by default")
    assert after < default / 20        # 48 MiB of 4 KiB pages (~12,000) faulted in each time before; now reused


def test_elsewhere_or_when_asked_it_changes_nothing(monkeypatch):
    from engine import cpu_malloc
    monkeypatch.setenv("MINIGPT_MALLOC", "system")
    assert cpu_malloc.reuse_freed_memory() is False
    monkeypatch.delenv("MINIGPT_MALLOC")
    monkeypatch.setattr(cpu_malloc.sys, "platform", "darwin")
    assert cpu_malloc.reuse_freed_memory() is False

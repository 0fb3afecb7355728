"""`hardware.precision: auto` on a CPU: bf16 with AMX-BF16, and with AVX512-BF16 where the chip's measured speed-up
pays (engine/cpu_bf16_probe.py), fp32 elsewhere; /proc/cpuinfo's flags faked here as text; `doctor` says what auto picks
and why; decoding during training stays fp32 (tests/e2e/test_cpu_precision_run.py runs the engine on auto)."""

from __future__ import annotations

import json

import pytest
import torch

from engine.hardware import (
    Runtime,
    cpu_auto_precision,
    cpu_bf16_support,
    cpu_prefers_bf16,
    decode_autocast,
    doctor_report,
    pick_precision,
)

# The flags line of /proc/cpuinfo as three machines write it (trimmed).
ZEN4 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl avx512_bf16 avx512_vnni\n"
SAPPHIRE_RAPIDS = "flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
SKYLAKE = "flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl avx512_vnni\n"


@pytest.mark.parametrize(("flags", "kind", "speedup", "auto"), [
    (ZEN4, "avx512", 1.5, "bf16"), (ZEN4, "avx512", 0.75, "fp32"), (SAPPHIRE_RAPIDS, "amx", 0.5, "bf16"),
    (SKYLAKE, None, 2.0, "fp32"), ("", None, 2.0, "fp32")])
def test_auto_picks_bf16_only_where_the_cpu_has_native_bf16_that_pays(flags, kind, speedup, auto):
    """AVX512-BF16 alone: bf16 only when the chip's measured speed-up (here given) clears the bar."""
    assert cpu_bf16_support(flags) == kind
    precision, why = cpu_auto_precision(flags, speedup)
    assert precision == auto and cpu_prefers_bf16(flags, speedup) == (auto == "bf16")
    assert ("AVX512-BF16" in why and f"{speedup:.2f}x" in why) if kind == "avx512" else \
        ("AMX" in why) if kind == "amx" else ("neither" in why)


def test_a_flag_is_a_whole_word_not_a_substring():
    # a made-up flag that merely contains the name must not count
    assert cpu_bf16_support("flags\t: fpu no_avx512_bf16x\n") is None


def test_doctor_says_what_auto_picks_on_this_cpu_and_why():
    report = json.loads(json.dumps(doctor_report()))
    cpu, auto = report["cpu"], report["auto"]
    expected = cpu_auto_precision()
    assert (cpu["auto_precision"], cpu["auto_precision_why"]) == expected
    assert cpu["bf16_kind"] == cpu_bf16_support()
    if auto["device"] == "cpu":
        assert (auto["precision"], auto["precision_why"]) == expected
        assert pick_precision("auto", torch.device("cpu"))[0] == expected[0]


def test_decoding_during_training_stays_fp32_on_the_cpu():
    rt = Runtime(torch.device("cpu"), "bf16", torch.bfloat16, False)
    model = torch.nn.Linear(4, 4)
    with decode_autocast(rt)():
        assert model(torch.randn(2, 4)).dtype == torch.float32
    with rt.autocast():
        assert model(torch.randn(2, 4)).dtype == torch.bfloat16  # the training step keeps bf16

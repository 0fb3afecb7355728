"""What a run will cost before launch, in words: the time (from a measured speed probe) and the warnings when
the memory estimate exceeds the device's memory or the time is absurd.

Pure Python over engine.estimate, the doctor report and a calibration result; no widgets, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.config import Config
from engine.estimate import ABSURD_SECONDS, eta_seconds, flops_per_token, human_duration
from studio.i18n import tr


def duration_text(seconds: float) -> str:
    """engine.estimate.human_duration's words in the interface language (same thresholds)."""
    english = human_duration(seconds)
    number = english.split()[1]
    unit = english.split()[-1]
    return {"seconds": tr("about {0} seconds"), "minutes": tr("about {0} minutes"), "hours": tr("about {0} hours"),
            "days": tr("about {0} days")}[unit].format(number)


@dataclass
class Cost:
    eta_s: float | None = None
    eta_text: str = "—"          # "about 6 minutes", or why there is no figure yet
    rate_text: str = ""          # how the figure was reached
    warnings: list[str] = field(default_factory=list)


def human_bytes(n: float) -> str:
    for div, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.2f} {suffix}"
    return f"{n:.0f} B"


def short_count(n: float) -> str:
    return f"{n / 1e3:.1f}k" if n >= 1e3 else f"{n:.0f}"


def device_memory(report: dict | None, device: str) -> tuple[int, str] | None:
    """(bytes, what they are) of the memory a run on `device` has, from the doctor report; None if unknown."""
    if not report:
        return None
    if device == "auto":
        device = str(report.get("default_device") or "cpu")
    if device.startswith("cuda"):
        index = int(device[5:]) if device[5:].isdigit() else 0
        gpu = next((g for g in (report.get("cuda") or {}).get("gpus") or [] if g.get("index") == index), None)
        return (int(gpu["memory"]), tr("{0} has").format(gpu.get("name", "the GPU"))) \
            if gpu and gpu.get("memory") else None
    total = (report.get("memory") or {}).get("total")
    return (int(total), tr("this machine has")) if total else None


def run_cost(cfg: Config, memory_bytes: float | None, calibration: dict | None, report: dict | None = None,
             pending: bool = False, error: str = "") -> Cost:
    """The time and warnings for `cfg` with `calibration` (a `minigpt doctor --calibrate --json` result)."""
    cost = Cost()
    mem = device_memory(report, cfg.hardware.device)
    if memory_bytes and mem and memory_bytes > mem[0]:
        cost.warnings.append(tr("needs about {0} of memory but {1} {2}: lower run.batch_size or data.seq_len, turn "
                                "on hardware.grad_checkpointing, or pick a smaller preset").format(
                                    human_bytes(memory_bytes), mem[1], human_bytes(mem[0])))
    if calibration is None:
        cost.eta_text = tr("measuring this machine's speed…") if pending else (
            tr("unknown ({0})").format(error) if error else tr("unknown until the hardware is detected"))
        return cost
    vocab = cfg.model.vocab_size or cfg.tokenizer.vocab_size
    seconds = eta_seconds(cfg, float(calibration["flops_per_s"]), vocab)
    if seconds is None:
        return cost
    cost.eta_s = seconds
    cost.eta_text = duration_text(seconds)
    tokens_per_s = float(calibration["flops_per_s"]) / flops_per_token(cfg.model, cfg.data.seq_len, vocab)
    cost.rate_text = tr("~{0} tokens/s from a speed probe of the {1} preset on {2}, {3}").format(
        short_count(tokens_per_s), calibration.get("preset", "?"), calibration.get("device", "?"),
        calibration.get("precision", "?"))
    if seconds > ABSURD_SECONDS:
        cost.warnings.append(tr("{0} of training on this device: fewer run.max_steps, a smaller preset or a faster "
                                "device would finish sooner").format(cost.eta_text))
    return cost

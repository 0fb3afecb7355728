"""Wizard page 4, Hardware: what `minigpt doctor --json` found (GPUs, Apple MPS, CPU cores and RAM) and the
hardware knobs. Devices and precisions are the doctor's lists; a switch (compile, gradient checkpointing, ...)
is shown only when the doctor says the engine offers it, so later engine work appears without studio changes.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QT_TR_NOOP
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from engine.config import COMPILE_MODES
from engine.estimate import (
    CPU_COMPILE_MIN_FLOPS,
    CPU_COMPILE_WARM_MIN_FLOPS,
    cpu_compile_pays,
    cpu_compile_warm,
    planned_flops,
)
from studio.config_messages import config_error_detail, config_error_text
from studio.i18n import tr
from studio.views.estimate_box import human_bytes, warnings_html
from studio.views.fields import FieldGroup
from studio.views.processes_row import ProcessesRow
from studio.views.wizard_page import WizardPage


def auto_batch_text(auto: dict) -> str:
    """How auto picks the batch size, in the interface's language from the doctor's fields (its `text` is English;
    it is shown as it is only for a rule this studio does not know)."""
    batch = auto.get("batch_size") or {}
    if batch.get("how") != "probe" or not {"ceiling", "memory_fraction"} <= batch.keys():
        return batch.get("text", "")
    memory = tr("RAM") if str(auto.get("device", "")).startswith("cpu") else tr("GPU memory")
    return tr("the largest micro-batch up to {0} whose step fits in {1} of {2}, tried before the first step").format(
        batch["ceiling"], f"{batch['memory_fraction']:.0%}", memory)


def describe_machine(report: dict) -> str:
    cpu, mem = report.get("cpu") or {}, report.get("memory") or {}
    auto = html.escape(str(cpu.get("auto_precision")))
    rows = [tr("<b>CPU</b>: {0}, {1} cores").format(html.escape(str(cpu.get("name", "?"))), cpu.get("cores", "?"))
            + (f", bf16: {html.escape(str(cpu['bf16_kind']).upper())}" if cpu.get("bf16_kind") else "")
            + (tr(" (auto trains in {0} here)").format(auto) if cpu.get("auto_precision") else "")
            + tr(" · <b>RAM</b>: {0} ({1} free)").format(human_bytes(mem.get("total", 0)),
                                                           human_bytes(mem.get("available", 0)))]
    for g in (report.get("cuda") or {}).get("gpus") or []:
        rows.append(f"<b>GPU cuda:{g.get('index', 0)}</b>: {html.escape(str(g.get('name')))}, "
                    f"{human_bytes(g.get('memory', 0))}" + (f", sm {g['capability']}" if g.get("capability") else "")
                    + (", bf16" if g.get("bf16") else ""))
    if not (report.get("cuda") or {}).get("gpus"):
        rows.append(tr("<b>CUDA</b>: no NVIDIA GPU found"))
    mps = report.get("mps") or {}
    rows.append(tr("<b>Apple GPU (MPS)</b>: {0}").format(
        tr("available, {0} usable, bf16: {1}").format(human_bytes(mps.get("memory", 0)),
                                                     tr("yes") if mps.get("bf16") else tr("no (fp32)"))
        if mps.get("available") else tr("not available")))
    esc = {k: html.escape(str(report.get(k, "?"))) for k in ("default_device", "engine_version", "torch")}
    rows.append(tr("<b>Default device</b>: {0} · engine {1} · torch {2}").format(
        esc["default_device"], esc["engine_version"], esc["torch"]))
    auto = report.get("auto")
    if auto:
        batch = auto_batch_text(auto)
        compile_ = {"on": tr("on"), "off": tr("off")}.get(str(auto.get("compile")), str(auto.get("compile")))
        if str(auto.get("device", "")).startswith("cpu"):
            compile_ = tr("for long runs")  # the run's planned work decides: see compile_text
        rows.append(tr("<b>What auto picks here</b>: device {0} ({1}, bf16 {2}) · precision {3} · compile {4}").format(
            html.escape(str(auto.get("device"))), human_bytes(auto.get("memory", 0)),
            tr("yes") if auto.get("bf16") else tr("no"), html.escape(str(auto.get("precision"))),
            html.escape(compile_))
            + (tr(" · batch size: {0}").format(html.escape(batch)) if batch else ""))
    return "<br>".join(rows)


def compile_text(cfg, auto_device: str, workspace: str | None = None, auto_precision: str = "fp32") -> str:
    """What hardware.compile: auto does for this run on a CPU, where the run's planned FLOPs decide, with a lower
    bar for a shape the workspace compiled before (the engine's rule, engine/estimate.py); empty where it does not
    depend on the run. auto_precision: what precision auto picks here (the doctor's)."""
    device = auto_device if cfg.hardware.device == "auto" else cfg.hardware.device
    if cfg.hardware.compile != "auto" or not str(device).startswith("cpu"):
        return ""
    flops = planned_flops(cfg)
    precision = auto_precision if cfg.hardware.precision == "auto" else cfg.hardware.precision
    warm = bool(workspace) and cpu_compile_warm(workspace, cfg, precision)
    verdict = tr("compiled") if cpu_compile_pays(flops, warm) else tr("not compiled")
    text = tr("<b>torch.compile (auto)</b>: {0}. This run plans {1:.1e} FLOPs; on a CPU auto compiles runs of at "
              "least {2:.0e}, where the faster steps repay the compile (about a minute, once per model shape)"
              ).format(verdict, flops, CPU_COMPILE_MIN_FLOPS)
    if warm:
        text += tr("; this shape compiled before in this workspace, so its compile is read back from the cache in "
                   "seconds, and runs of at least {0:.0e} FLOPs compile").format(CPU_COMPILE_WARM_MIN_FLOPS)
    return text


class HardwarePage(WizardPage):
    title = QT_TR_NOOP("4 · Hardware")
    subtitle = QT_TR_NOOP("Where the run trains and at what precision. Detected by the engine on this machine.")

    def __init__(self, doc, workspace: str | None = None, parent: QWidget | None = None):
        super().__init__(doc, parent)
        self.workspace = workspace      # whose compile records say whether a compile is cached (compile_text)
        self.report: dict | None = None
        self.error = ""
        self.machine = QLabel(self.tr("Detecting hardware (minigpt doctor)…"))
        self.machine.setObjectName("machineInfo")
        self.machine.setWordWrap(True)
        box = QGroupBox(self.tr("This machine"))
        QVBoxLayout(box).addWidget(self.machine)
        self.outer.addWidget(box)
        self.knob_box = QGroupBox(self.tr("Settings"))
        self.knob_layout = QVBoxLayout(self.knob_box)
        self.processes = ProcessesRow()  # --nproc N; shown only with several GPUs
        self.knob_layout.addWidget(self.processes)
        self.outer.addWidget(self.knob_box)
        self.cost = QLabel()
        self.cost.setObjectName("hardwareCost")
        self.cost.setWordWrap(True)
        self.cost_source = None          # callable(Config, memory bytes) -> Cost, set by the wizard
        self.outer.addWidget(self.cost)
        self.outer.addStretch(1)
        self.fields: FieldGroup | None = None
        self._build_fields({"devices": ["auto", "cpu"], "precisions": ["auto", "fp32"], "parallels": False})

    def _build_fields(self, options: dict) -> None:
        if self.fields is not None:   # out of the layout now: deleteLater waits for the event loop
            self.knob_layout.removeWidget(self._host)
            self._host.hide()
            self.fields.deleteLater()
            self._host.deleteLater()
        knobs = self.doc.knobs.get("hardware", {})
        keys = []
        for name in knobs:
            offered = options.get(name, options.get(f"{name}s", True))
            if offered is False:
                continue  # the engine says it cannot do this here
            keys.append(f"hardware.{name}")
        choices = {"hardware.device": options.get("devices"), "hardware.precision": options.get("precisions"),
                   "hardware.compile": options.get("compile_modes", list(COMPILE_MODES)),
                   "hardware.parallel": options.get("parallels") or None}
        self.fields = FieldGroup(self.doc.knobs, keys, {k: v for k, v in choices.items() if v}, parent=self)
        self.fields.set_values(self.doc.resolved())
        self.fields.changed.connect(self._on_fields_changed)
        self._host = QWidget()
        self._host.setLayout(self.fields.form)
        self.knob_layout.insertWidget(0, self._host)
        self._on_fields_changed()

    def set_report(self, report: dict) -> None:
        self.report = report
        self.machine.setText(describe_machine(report))
        options = dict(report.get("options") or {})
        self._build_fields(options)
        self.processes.set_gpu_count(int((report.get("cuda") or {}).get("count") or 0))

    def set_error(self, message: str) -> None:
        self.error = message
        self.machine.setText(f"<span style='color:#d9534f'>{html.escape(message)}</span><br>"
                             + self.tr("You can still launch with device 'auto'."))

    def entered(self) -> None:
        if self.fields is not None:
            self.fields.set_values(self.doc.resolved())

    def reason(self) -> str | None:
        if self.fields is None:
            return None
        _, bad = self.fields.values()
        if bad:
            return next(iter(bad.values()))
        check = self.doc.check()
        if not check.ok and check.key.startswith("hardware."):
            return config_error_text(check.key, check.message)
        return None

    def _on_fields_changed(self) -> None:
        values, bad = self.fields.values()
        if not bad:
            self.doc.update(values)
        check = self.doc.check()
        errors = dict(bad)
        if not check.ok and check.key.startswith("hardware."):
            errors[check.key] = config_error_detail(check.key, check.message)
        self.fields.show_errors(errors)
        self.refresh_cost()
        self.validity_changed.emit()

    def refresh_cost(self) -> None:
        """The time and warnings on the device chosen here (what changes when the device does)."""
        est, cfg = self.doc.estimate(), self.doc.check().config
        if est is None or cfg is None or self.cost_source is None:
            self.cost.setText("")
            return
        cost = self.cost_source(cfg, est["memory_bytes"])
        warn = warnings_html(cost)
        auto = (self.report or {}).get("auto") or {}
        compiled = compile_text(cfg, str(auto.get("device", "")), self.workspace, str(auto.get("precision", "fp32")))
        self.cost.setText(self.tr("<b>Training time here</b>: {0} · memory ~{1}").format(
            html.escape(cost.eta_text), human_bytes(est["memory_bytes"])) + (f"<br>{warn}" if warn else "")
            + (f"<br>{compiled}" if compiled else ""))

"""Wizard page 3, Stage: the training stage, the checkpoint to start from, the model preset and its knobs,
and the hyperparameters, each with the engine's help as its tooltip, beside a live estimate.

Stages (with the record kind each reads, the stage.* knobs each takes and what it needs), presets, rule rewards,
activations and schedules come from the engine (doctor report, engine.stages, engine.config), so a stage the engine
adds later appears here without studio changes. Invalid values show their reason beside the field.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QT_TR_NOOP, QT_TRANSLATE_NOOP, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.config import (
    ACTIVATIONS,
    DPO_LOSS_TYPES,
    OPTIMIZERS,
    SCHEDULES,
    STAGE_INFO,
    UserError,
    list_presets,
    load_preset,
    stage_knobs,
)
from studio.config_messages import config_error_detail, config_error_text
from studio.i18n import knob_help
from studio.models.cost import Cost
from studio.models.run_scan import is_checkpoint
from studio.views.estimate_box import EstimateBox
from studio.views.fields import FieldGroup
from studio.views.schedule_curve import ScheduleCurve
from studio.views.stage_needs import RewardSource, needs_reward, needs_teacher, stage_needs
from studio.views.teacher_picker import TeacherPicker
from studio.views.wizard_page import WizardPage

HIDDEN = {"model.preset", "model.vocab_size", "tokenizer.path", "stage.init", "stage.name", "data.train", "data.val",
          "data.encoding",  # data.encoding: chosen on the Data page, where the files are scanned with it
          "model.moe"}      # a nested section, not one field: it comes with the moe-* presets
GROUPS = ((QT_TRANSLATE_NOOP("StagePage", "Model"), "model"), (QT_TRANSLATE_NOOP("StagePage", "Optimizer"), "optim"),
          (QT_TRANSLATE_NOOP("StagePage", "Training run"), "run"),
          (QT_TRANSLATE_NOOP("StagePage", "Data handling"), "data"))
# on the Stage box itself, not among the stage's settings
STAGE_OWN = ("stage.name", "stage.init", "stage.reward", "stage.teacher")
# shown where a checkpoint is fine-tuned (not pretrain)
LORA_KEYS = ("lora.rank", "lora.alpha", "lora.targets", "lora.train_special_tokens")


class StagePage(WizardPage):
    title = QT_TR_NOOP("3 · Stage and model")
    subtitle = QT_TR_NOOP("What kind of training, how big a model, and how it learns. Hover any field for what it "
                          "does.")

    def __init__(self, doc, checkpoints=lambda: [], parent: QWidget | None = None):
        super().__init__(doc, parent)
        self._checkpoints = checkpoints           # callable -> [(label, path)] from past runs
        self.options = {"stages": list(STAGE_INFO), "model_presets": list_presets("models"),
                        "activations": list(ACTIVATIONS), "schedules": list(SCHEDULES),
                        "optimizers": list(OPTIMIZERS)}
        knobs = doc.knobs
        self.top = FieldGroup(knobs, ["stage.name", "model.preset"], self._option_map(), parent=self)
        self.init = QComboBox()
        self.init.setEditable(True)
        self.init.setObjectName("field:stage.init")
        self.init.setToolTip(f"<b>stage.init</b><br>{knob_help(knobs['stage']['init'])}")
        self.init.currentTextChanged.connect(self._on_init_changed)
        self.init_error = QLabel()
        self.init_error.setObjectName("fieldError")
        self.init_error.hide()
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(self._on_browse_clicked)
        init_row = QHBoxLayout()
        init_row.addWidget(self.init, 1)
        init_row.addWidget(browse)
        init_box = QWidget()
        iv = QVBoxLayout(init_box)
        iv.setContentsMargins(0, 0, 0, 0)
        iv.addLayout(init_row)
        iv.addWidget(self.init_error)
        self.top.form.addRow(self.tr("Start from"), init_box)
        self.needs = QLabel()
        self.needs.setObjectName("stageNeeds")
        self.needs.setTextFormat(Qt.TextFormat.RichText)  # one need per line: a wrapped label is clipped in a form
        self.top.form.addRow(self.tr("Needs"), self.needs)
        self.reward = RewardSource(knob_help(knobs.get("stage", {}).get("reward", {})))
        self.reward.changed.connect(self._on_reward_changed)
        self.top.form.addRow(self.tr("Reward from"), self.reward)
        self.teacher = TeacherPicker(knob_help(knobs.get("stage", {}).get("teacher", {})))
        self.teacher.changed.connect(self._on_teacher_changed)
        self.top.form.addRow(self.tr("Teacher"), self.teacher)
        # the stage's own settings (DPO's beta, PPO's epochs...): every stage.* knob, each shown for its stage
        stage_keys = [f"stage.{k}" for k in knobs.get("stage", {}) if f"stage.{k}" not in STAGE_OWN]
        self.stage_knobs = FieldGroup(knobs, stage_keys, self._option_map(), parent=self)

        self.groups: dict[str, FieldGroup] = {}
        body = QWidget()
        bv = QVBoxLayout(body)
        top_box = QGroupBox(self.tr("Stage"))
        top_box.setLayout(self.top.form)
        bv.addWidget(top_box)
        self.stage_box = QGroupBox(self.tr("Stage settings"))
        self.stage_box.setLayout(self.stage_knobs.form)
        bv.addWidget(self.stage_box)
        for title, section in GROUPS:
            keys = [f"{section}.{k}" for k in knobs.get(section, {}) if f"{section}.{k}" not in HIDDEN]
            group = FieldGroup(knobs, keys, self._option_map(), parent=self)
            box = QGroupBox(self.tr(title))
            box.setLayout(group.form)
            bv.addWidget(box)
            self.groups[section] = group
            if section == "optim":  # LoRA sits beside the optimizer: it decides which weights it updates
                self.lora_box = QGroupBox(self.tr("LoRA adapters (rank 0 = train every weight)"))
                self.groups["lora"] = FieldGroup(knobs, list(LORA_KEYS), parent=self)
                self.lora_box.setLayout(self.groups["lora"].form)
                # 240 px: the page fits a 1024-px window in en and zh; the default seven targets then scroll inside
                # the field (fields keep their own width: Field.row adds a stretch after them)
                self.groups["lora"].fields["lora.targets"].widget.setMinimumWidth(240)
                bv.addWidget(self.lora_box)
        self.schedule = ScheduleCurve()           # the lr over the run, drawn under the optimizer's knobs
        self.groups["optim"].form.addRow(self.schedule)
        bv.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.estimate = EstimateBox()
        self.cost_source = None          # callable(Config, memory bytes) -> Cost, set by the wizard
        right = QVBoxLayout()
        right.addWidget(self.estimate)
        right.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(scroll, 3)
        row.addLayout(right, 2)
        self.outer.addLayout(row, 1)

        self.top.set_values(doc.resolved())
        self.stage_knobs.set_values(doc.resolved())
        for g in self.groups.values():
            g.set_values(doc.resolved())
        self.top.fields["stage.name"].changed.connect(self._on_stage_changed)
        self.top.fields["model.preset"].changed.connect(self._on_preset_changed)
        for g in (self.stage_knobs, *self.groups.values()):
            g.changed.connect(self._on_fields_changed)
        self._show_stage_parts()
        self._on_fields_changed()

    # ------------------------------------------------------------------ engine options
    def _option_map(self) -> dict[str, list[str]]:
        o = self.options
        return {"stage.name": o["stages"], "model.preset": o["model_presets"], "stage.loss_type": list(DPO_LOSS_TYPES),
                "model.activation": o.get("activations"), "optim.schedule": o.get("schedules"),
                "optim.name": o.get("optimizers")}

    def set_engine_options(self, options: dict) -> None:
        """Adopt the doctor report's lists (stages and presets the engine offers)."""
        for key, name in (("stage.name", "stages"), ("model.preset", "model_presets"),
                          ("model.activation", "activations"), ("optim.schedule", "schedules"),
                          ("optim.name", "optimizers")):
            items = options.get(name)
            f = self.top.fields.get(key) or self.groups[key.split(".")[0]].fields.get(key)
            if not items or f is None or f.kind != "choice":
                continue
            f.set_options([str(i) for i in items])
        if "rule_rewards" in options:
            self.options["rule_rewards"] = list(options["rule_rewards"])
            self.reward.set_sources(self.options["rule_rewards"], self._checkpoints())

    # ------------------------------------------------------------------ page API
    def entered(self) -> None:
        current = self.init.currentText()
        self.init.blockSignals(True)
        self.init.clear()
        self.init.addItem("")
        for label, path in self._checkpoints():
            self.init.addItem(label, path)
        found = self.init.findText(current) if current else -1
        if found > 0:  # a run picked from the list keeps its item, whose data is the path (the text is a label)
            self.init.setCurrentIndex(found)
        else:
            self.init.setEditText(current)
        self.init.blockSignals(False)
        self.reward.set_sources(self.options.get("rule_rewards", []), self._checkpoints())
        self._show_reward()
        self.teacher.set_checkpoints(self._checkpoints())
        self.teacher.set_value(self.doc.get("stage.teacher", ""))
        for g in (self.stage_knobs, *self.groups.values()):
            g.set_values(self.doc.resolved())

    def load_document(self) -> None:
        """Show the whole document (after File → Open run config… or a restore), without a preset or stage
        choice dropping the loaded values the way a user's choice does."""
        resolved = self.doc.resolved()
        for f in self.top.fields.values():
            f.blockSignals(True)
        self.top.set_values(resolved)
        for f in self.top.fields.values():
            f.blockSignals(False)
        self.init.setEditText(str(self.doc.get("stage.init") or ""))
        self._reload_fields()
        self._show_reward()

    def reason(self) -> str | None:
        stage = self.doc.get("stage.name", "pretrain")
        if needs_reward(stage) and not self.reward.value():
            return self.tr("stage.reward: the {0} stage needs a reward source (a rule or a reward-model checkpoint)"
                           ).format(stage)
        if needs_teacher(stage) and not self.teacher.value():
            return self.tr("stage.teacher: the {0} stage needs a teacher checkpoint (a finished run)").format(stage)
        for g in (self.top, self.stage_knobs, *self.groups.values()):
            _, bad = g.values()
            if bad:
                key, why = next(iter(bad.items()))
                return f"{key}: {why}"
        init = self._init_path()
        if init and not (Path(init).is_dir() and (is_checkpoint(init) or (Path(init) / "checkpoints").is_dir())):
            return self.tr("stage.init: not a checkpoint folder (or a run folder with checkpoints)")
        stage = self.doc.get("stage.name", "pretrain")
        want = STAGE_INFO[stage].kind if stage in STAGE_INFO else None  # a stage this engine lacks accepts any data
        kinds = set(self.doc.data_kinds.values())
        if want and kinds and kinds != {want}:
            return self.tr("the {0} stage needs {1} data, but the data page holds {2}").format(
                stage, want, ", ".join(sorted(kinds)))
        check = self.doc.check()
        if not check.ok:
            return config_error_text(check.key, check.message, check.hint)
        return None

    # ------------------------------------------------------------------ slots
    def _init_path(self) -> str:
        i = self.init.currentIndex()
        text = self.init.currentText().strip()
        if i > 0 and self.init.itemText(i) == text:
            return str(self.init.itemData(i) or text)
        return text

    def _on_init_changed(self, _text: str) -> None:
        self.doc.set("stage.init", self._init_path() or None)
        self._on_fields_changed()

    def _show_reward(self) -> None:
        """Show the reward source the run will use: the user's stage.reward, else the stage preset's (grpo and ppo
        preset a rule), so a stage that works as chosen is not blocked on an empty picker."""
        self.reward.set_value(reward_text((self.doc.resolved().get("stage") or {}).get("reward")))

    def _on_reward_changed(self) -> None:
        value = self.reward.value()
        current = (self.doc.resolved().get("stage") or {}).get("reward")
        if not (value and needs_reward(self.top.fields["stage.name"].value())):
            (self.doc.doc.get("stage") or {}).pop("reward", None)   # a stage without a reward source has no key
        elif isinstance(current, list) and "," in value:   # an ensemble shown comma-joined, edited: still a list
            self.doc.set("stage.reward", [part.strip() for part in value.split(",") if part.strip()])
        elif not (isinstance(current, list) and value == reward_text(current)):  # a YAML's ensemble stays a list
            self.doc.set("stage.reward", value)
        self._on_fields_changed()

    def _on_teacher_changed(self) -> None:
        value = self.teacher.value()
        if value and needs_teacher(self.top.fields["stage.name"].value()):
            self.doc.set("stage.teacher", value)
        else:  # a stage without a teacher has no stage.teacher key at all
            (self.doc.doc.get("stage") or {}).pop("teacher", None)
        self._on_fields_changed()

    def _show_stage_parts(self) -> None:
        """Show what the chosen stage takes: its settings, the reward source if it samples, and what it needs."""
        stage = self.top.fields["stage.name"].value()
        own = {f"stage.{k}" for k in stage_knobs(stage)}
        for key, f in self.stage_knobs.fields.items():
            f.set_visible(key in own)
        self.stage_box.setVisible(bool(own & set(self.stage_knobs.fields)))
        self.top.form.setRowVisible(self.reward, needs_reward(stage))
        self.lora_box.setVisible(stage != "pretrain")
        self.top.form.setRowVisible(self.teacher, needs_teacher(stage))
        self.needs.setText(html.escape(stage_needs(stage)).replace(" · ", "<br>"))

    def _on_browse_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self.tr("Choose a checkpoint folder"), str(Path.home()))
        if path:
            self.init.setEditText(path)

    def _forget_preset_keys(self, kind: str, name: str) -> None:
        """Drop the user's values for keys a preset sets, so choosing the preset takes effect."""
        try:
            preset = load_preset(kind, name)
        except UserError:
            return
        for section, values in preset.items():
            if isinstance(values, dict) and isinstance(self.doc.doc.get(section), dict):
                for key in values:
                    if key not in ("preset", "name"):
                        self.doc.doc[section].pop(key, None)

    def _on_preset_changed(self) -> None:
        name = self.top.fields["model.preset"].value()
        self._forget_preset_keys("models", name)
        self.doc.doc["model"] = {"preset": name}
        self._reload_fields()

    def _on_stage_changed(self) -> None:
        name = self.top.fields["stage.name"].value()
        self._forget_preset_keys("stages", name)
        self.doc.doc.setdefault("stage", {})["name"] = name
        own = set(stage_knobs(name)) | ({"reward"} if needs_reward(name) else set())
        for key in [*self.stage_knobs.fields, "stage.reward", "stage.teacher"]:  # the last stage's settings go with it
            if key.split(".", 1)[1] not in own:
                self.doc.doc["stage"].pop(key.split(".", 1)[1], None)
        self._show_stage_parts()
        self._reload_fields()
        self._show_reward()  # after the fields hold the new stage's values: the reward's signal stores them

    def _reload_fields(self) -> None:
        resolved = self.doc.resolved()
        for g in (self.stage_knobs, *self.groups.values()):
            g.blockSignals(True)
            g.set_values(resolved)
            g.blockSignals(False)
        self._on_fields_changed()

    def _on_fields_changed(self) -> None:
        errors: dict[str, str] = {}
        merged: dict = {}
        shown = {f"stage.{k}" for k in stage_knobs(self.top.fields["stage.name"].value())}
        for g in (self.top, self.stage_knobs, *self.groups.values()):
            values, bad = g.values()
            errors.update(bad)
            for section, vals in values.items():
                if g is self.stage_knobs:  # only the chosen stage's settings go into its document
                    vals = {k: v for k, v in vals.items() if f"stage.{k}" in shown}
                merged.setdefault(section, {}).update(vals)
        self.doc.update(merged)
        check = self.doc.check()
        if not check.ok and check.key and check.key not in errors:
            errors[check.key] = config_error_detail(check.key, check.message) + (
                f" ({config_error_detail('', check.hint)})" if check.hint else "")
        for g in (self.top, self.stage_knobs, *self.groups.values()):
            g.show_errors(errors)
        init_reason = None
        init = self._init_path()
        if init and not Path(init).exists():
            init_reason = self.tr("no such folder")
        self.init_error.setText(init_reason or "")
        self.init_error.setVisible(bool(init_reason))
        self.estimate.show_estimate(self.doc.estimate())
        cfg = check.config
        self.schedule.show_schedule(cfg.optim if cfg else None, cfg.run.max_steps if cfg else 0)
        hessian = self.groups["optim"].fields.get("optim.hessian_every")
        if hessian is not None:  # Sophia's knob, shown only for Sophia
            hessian.set_visible(self.groups["optim"].fields["optim.name"].value() == "sophia")
        self.refresh_cost()
        self.validity_changed.emit()

    def refresh_cost(self) -> None:
        est, cfg = self.doc.estimate(), self.doc.check().config
        if est is None or cfg is None or self.cost_source is None:
            self.estimate.show_cost(Cost())
        else:
            self.estimate.show_cost(self.cost_source(cfg, est["memory_bytes"]))


def reward_text(reward) -> str:
    """stage.reward as the picker shows it: a rule or folder as is, an ensemble's folders joined by commas."""
    return ", ".join(str(r) for r in reward) if isinstance(reward, list) else str(reward or "")

"""The wizard refuses what `minigpt train` refuses (engine.config.check_limits): a model this machine cannot hold
and a step too big to hold show their message beside the field and block Next; a run that never ends, typed on the
Review page, is refused there. No traceback."""

from __future__ import annotations

from studio.engine_cmd import EngineCommand
from studio.views.wizard import TrainWizard


def test_absurd_values_show_their_refusal_on_the_page(qtbot, tmp_path):
    wizard = TrainWizard(EngineCommand(workspace=tmp_path / "ws"))
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.go_to(2)
    for group, key, value, fine, words in [
        ("model", "model.n_layer", 100_000, 2, ["100,000 needs ~", "GiB, this machine has", "at most"]),
        ("run", "run.grad_accum", 100_000_000, 1, ["100,000,000 needs ~", "GiB", "lower run.grad_accum"]),
    ]:
        field = wizard.stage.groups[group].fields[key]
        field.set_value(value)
        assert not wizard.next.isEnabled(), key
        assert field.error.isVisible() and "Traceback" not in field.error.text()
        for w in words:
            assert w in field.error.text(), field.error.text()
        field.set_value(fine)
        assert wizard.next.isEnabled() and not field.error.isVisible(), key

    wizard.go_to(4)
    review = wizard.review
    review.editor.setPlainText(review.text().replace("max_steps: ", "max_steps: 1000000000000000 #"))
    qtbot.waitUntil(lambda: not review.launch.isEnabled(), timeout=5000)
    assert "never finishes" in review.state.text() and "run.max_steps" in review.state.text()

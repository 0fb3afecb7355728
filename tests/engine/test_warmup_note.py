"""A run no longer than its warm-up ends at the peak lr (lr_at caps the warm-up at max_steps - 1): the run log
says so and names the key, and stays quiet where the schedule does decay."""

from engine.config import load_config
from engine.estimate import lr_at
from engine.train.run import warmup_note


def cfg(steps: int, warmup: int, schedule: str = "cosine"):
    return load_config(overrides=[f"run.max_steps={steps}", f"optim.warmup_steps={warmup}",
                                  f"optim.schedule={schedule}"])


def test_a_run_inside_its_warmup_is_told_and_given_the_key():
    c = cfg(40, 50)
    assert lr_at(39, 40, c.optim) == c.optim.lr                 # what the note is about: the last step at the peak
    note = warmup_note(c)
    assert "optim.warmup_steps 50 is not shorter than run.max_steps 40" in note
    assert "--set optim.warmup_steps=4" in note and "cosine decay" in note


def test_quiet_where_the_run_decays_or_means_no_decay():
    assert warmup_note(cfg(40, 38)) is None and lr_at(39, 40, cfg(40, 38).optim) < cfg(40, 38).optim.lr
    assert warmup_note(cfg(40, 39)) is not None                  # warm-up 39 of 40 steps: the last is the peak
    assert warmup_note(cfg(40, 50, "constant")) is None         # constant: the peak is the plan
    assert warmup_note(cfg(1, 0)) is None

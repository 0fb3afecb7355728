"""`minigpt chat`: a line ending in a backslash continues the message on the next line, so a terminal user can type
the built-in tasks in the form the model learned them ("Reverse the string:" newline "kulsh")."""

from __future__ import annotations

import io

from engine import checkpoint as ckpt
from engine.cli import main
from engine.model.gpt import GPT
from engine.subcommands import read_message


def typed(*lines):
    asked = []
    feed = iter(lines)

    def ask(prompt):
        asked.append(prompt)
        return next(feed)
    return ask, asked


def test_a_trailing_backslash_joins_lines_with_a_newline():
    ask, asked = typed("Reverse the string:\\", "kulsh", "never read")
    assert read_message(ask) == "Reverse the string:\nkulsh"
    assert asked == ["you> ", "...> "]


def test_lines_without_a_backslash_are_one_message_each_and_trailing_spaces_do_not_hide_one():
    ask, _ = typed("hello", "world")
    assert read_message(ask) == "hello"
    ask, _ = typed("a \\  ", "b\\", "c")
    assert read_message(ask) == "a \nb\nc"


def test_the_chat_sends_a_continued_message_as_one_turn(model_cfg, tok, tmp_path, monkeypatch, capsys):
    cfg = model_cfg()
    folder = ckpt.save_checkpoint(tmp_path / "run" / "checkpoints", 1, GPT(cfg), cfg, tok.to_json(), None,
                                  {"stage": "sft"})
    monkeypatch.setattr("sys.stdin", io.StringIO("Reverse the string:\\\nkulsh\n/quit\n"))
    assert main(["chat", str(folder), "--max-new-tokens", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.count("model> ") == 1, out           # two typed lines, one turn, one reply
    assert "...> " in out                           # the continuation prompt
    assert "continues on the next" in err           # the banner says how

"""`minigpt chat`: /quit and /exit end the chat like an empty line (the walkthrough typed /quit and the model was
asked to answer it); /reset still starts over, and other lines are sent to the model."""

from __future__ import annotations

import io

from engine import checkpoint as ckpt
from engine.cli import main
from engine.model.gpt import GPT


def test_quit_and_exit_end_the_chat_without_a_reply(model_cfg, tok, tmp_path, monkeypatch, capsys):
    cfg = model_cfg()
    folder = ckpt.save_checkpoint(tmp_path / "run" / "checkpoints", 1, GPT(cfg), cfg, tok.to_json(), None,
                                  {"stage": "sft"})
    for word in ("/quit", "/exit"):
        monkeypatch.setattr("sys.stdin", io.StringIO(f"hi\n/reset\n{word}\nnever sent\n"))
        assert main(["chat", str(folder), "--max-new-tokens", "2"]) == 0
        out, err = capsys.readouterr()
        assert out.count("model> ") == 1, out            # "hi" is answered, /reset and the quit word are not
        assert "/quit" in err                           # the banner says how to leave

"""PPO scores a rollout with a reward model on exactly the ids the reward model was trained on (encode_pair): the
reply's text without its decoded stop token, cut through the reply's <|im_end|> (the token the head reads)."""

from __future__ import annotations

from engine.data.pretokenize import encode_pair
from engine.train.reward_source import ModelSource


def test_a_rollout_reply_is_rendered_as_the_reward_model_was_trained(tok):
    source = object.__new__(ModelSource)            # the rendering only; no reward checkpoint is loaded
    source.tok, source.max_len = tok, 256
    messages = [{"role": "user", "content": "What is 2 + 3?"}]
    trained, _ = encode_pair(tok, {"prompt": messages, "chosen": "5", "rejected": "6"})
    for reply in ("5<|im_end|>", "5"):             # stopped by itself, or cut at rollout_tokens
        ids = source.rendered(messages, reply)
        assert ids == trained[0] and ids[-1] == tok.im_end_id
    assert source.rendered(messages, "5")[-1] == tok.im_end_id
    assert len(source.__class__.rendered(source, messages, "5" * 400)) == 256   # the last max_len ids are kept

"""engine.tokenizer: train / save / load, digit splitting, special tokens, documents, chat masks, bad files."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers, trainers

from engine.errors import UserError
from engine.tokenizer import (
    EOT,
    IM_END,
    IM_START,
    SPECIAL_TOKENS,
    Tokenizer,
    tokenizer_fingerprint,
    train_tokenizer,
)

CHAT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is 12 + 35?"},
    {"role": "assistant", "content": "12 + 35 = 47."},
    {"role": "user", "content": "用中文说一遍。"},
    {"role": "assistant", "content": "十二加三十五等于四十七。"},
]


def test_trained_tokenizer_has_the_requested_vocab_and_specials(tok):
    assert tok.vocab_size == 512
    for t in SPECIAL_TOKENS:
        assert tok.hf.token_to_id(t) is not None, t
    assert len({tok.eot_id, tok.im_start_id, tok.im_end_id, tok.pad_id}) == 4


def test_save_load_round_trip(tok, tmp_path):
    path = tok.save(tmp_path / "t")
    assert path == tmp_path / "t" / "tokenizer.json"
    assert not list((tmp_path / "t").glob("*.tmp"))
    for where in (tmp_path / "t", path):  # a folder or the file itself
        again = Tokenizer.load(where)
        assert again.vocab_size == tok.vocab_size
        assert tokenizer_fingerprint(again) == tokenizer_fingerprint(tok)
        text = "Hello 世界 12345 <|im_end|>"
        assert again.encode(text) == tok.encode(text)
        assert (again.eot_id, again.im_start_id, again.im_end_id) == (tok.eot_id, tok.im_start_id, tok.im_end_id)


def test_fingerprint_differs_between_tokenizers(tok):
    other = train_tokenizer(["completely different words here"] * 50, vocab_size=300, min_frequency=1)
    assert tokenizer_fingerprint(other) != tokenizer_fingerprint(tok)


@pytest.mark.parametrize("text", ["12345", "x9876543210y", "3.14159", "第2024年"])
def test_digits_split_one_per_token(tok, text):
    pieces = [tok.decode([i]) for i in tok.encode(text)]
    digits = [c for c in text if c.isdigit()]
    assert [p for p in pieces if any(c.isdigit() for c in p)] == digits


def test_five_digits_are_five_tokens_even_if_frequent_in_training(tok):
    # "997" etc. occur many times in the corpus; without the Digits pre-tokenizer BPE would merge them.
    assert len(tok.encode("12345")) == 5
    assert len(tok.encode("99999")) == 5


@pytest.mark.parametrize("special", [EOT, IM_START, IM_END, "<|pad|>", "<|reserved_0|>"])
def test_special_tokens_are_single_ids(tok, special):
    ids = tok.encode(f"a{special}b")
    assert tok.hf.token_to_id(special) in ids
    assert tok.encode(special) == [tok.hf.token_to_id(special)]


@pytest.mark.parametrize("text", ["北京是中国的首都。", "混合 mixed 文本 with 数字 42 and emoji 🙂",
                                  "  leading spaces\n\ttabs"])
def test_round_trip_including_chinese(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_encode_batch_matches_encode(tok):
    texts = ["one", "两个", "3 + 4 = 7", ""]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]


def test_encode_document_appends_endoftext_to_plain_text(tok):
    ids = tok.encode_document("Plain pretrain text.")
    assert ids[-1] == tok.eot_id
    assert ids[:-1] == tok.encode("Plain pretrain text.")


def test_encode_document_adds_nothing_to_chatml_text(tok):
    # minimind pretrain style: the text already carries its own turn markers.
    text = "<|im_start|>user\n鉴别一组中文文章的风格。<|im_end|> <|im_start|>assistant\n好的。<|im_end|>"
    ids = tok.encode_document(text)
    assert ids == tok.encode(text)
    assert tok.eot_id not in ids
    assert ids.count(tok.im_start_id) == 2 and ids.count(tok.im_end_id) == 2


def test_encode_chat_matches_the_rendered_template(tok):
    ids, mask = tok.encode_chat(CHAT)
    assert len(ids) == len(mask)
    assert tok.decode(ids) == tok.render_chat(CHAT)
    assert ids.count(tok.im_start_id) == len(CHAT) and ids.count(tok.im_end_id) == len(CHAT)


def test_encode_chat_mask_covers_exactly_the_assistant_replies_and_their_im_end(tok):
    ids, mask = tok.encode_chat(CHAT)
    assert set(mask) == {0, 1}
    # Contiguous masked runs, decoded: each is one assistant reply followed by <|im_end|>.
    runs, cur = [], []
    for i, m in zip(ids, mask, strict=True):
        if m:
            cur.append(i)
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    replies = [m["content"] for m in CHAT if m["role"] == "assistant"]
    assert [tok.decode(r) for r in runs] == [r + IM_END for r in replies]
    # Nothing of the system or user turns, and no role header, carries loss.
    unmasked = tok.decode([i for i, m in zip(ids, mask, strict=True) if not m])
    for m in CHAT:
        if m["role"] != "assistant":
            assert m["content"] in unmasked
    assert unmasked.count("assistant\n") == 2


def test_encode_chat_generation_prompt_is_unmasked(tok):
    ids, mask = tok.encode_chat(CHAT[:2], add_generation_prompt=True)
    assert tok.decode(ids) == tok.render_chat(CHAT[:2], add_generation_prompt=True)
    assert tok.decode(ids).endswith(f"{IM_START}assistant\n")
    assert sum(mask) == 0


def test_tokenizer_json_without_special_tokens_is_a_user_error(tmp_path):
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    hf.train_from_iterator(["some plain text without specials"] * 20, trainer=trainer)
    hf.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(UserError) as e:
        Tokenizer.load(tmp_path)
    assert EOT in str(e.value) and e.value.hint


@pytest.mark.parametrize("content", ["this is not json {", json.dumps({"version": "1.0", "model": 7}), ""])
def test_garbage_tokenizer_json_is_a_user_error(tmp_path, content):
    (tmp_path / "tokenizer.json").write_text(content)
    with pytest.raises(UserError) as e:
        Tokenizer.load(tmp_path / "tokenizer.json")
    assert "tokenizer.json" in str(e.value)


def test_missing_tokenizer_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Tokenizer.load(tmp_path / "nowhere")
    with pytest.raises(UserError, match="not found"):
        Tokenizer.load(tmp_path)  # a folder without tokenizer.json


def test_training_reports_progress():
    seen = []
    train_tokenizer((f"line {i}" for i in range(4500)), vocab_size=300, progress=seen.append)
    assert seen == [2000, 4000]


def test_token_strings_show_the_split_of_ascii_text(tok):
    text = "hello world 12"
    pieces = tok.token_strings(text)
    assert "".join(pieces) == text and len(pieces) == len(tok.encode(text))


def test_token_strings_show_the_split_of_chinese_text(tok):
    text = "你好世界，北京是中国的首都"
    assert "".join(tok.token_strings(text)) == text

"""Hugging Face export: transformers loads the folder with no custom code (offline), its logits match ours within
1e-4, greedy generations are identical, the tokenizer and chat template agree, and un-Llama models are refused."""

from __future__ import annotations

import json

import pytest
import torch
from inference_fixtures import *  # noqa: F403 - the toy / toy_lm session fixtures
from inference_fixtures import build_toy

from engine.errors import UserError
from engine.export import export_hf
from engine.generate import SamplingParams

PROMPTS = ["What is 12 + 35?", "the model learns to", "北京是中国的首都", "<|im_start|>user\nhello 3<|im_end|>\n"]


@pytest.fixture(scope="module")
def exported(toy, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch_module.setenv("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    out = export_hf(toy.folder, tmp_path_factory.mktemp("hf") / "toy-llama")
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    return out, model, tok


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_config_describes_a_llama(exported, toy):
    out, model, _ = exported
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["hidden_act"] == "silu"
    assert (cfg["num_key_value_heads"], cfg["head_dim"]) == (toy.model.cfg.n_kv_head, toy.model.cfg.head_dim)
    assert cfg["tie_word_embeddings"] is True and cfg["rope_theta"] == toy.model.cfg.rope_theta
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        assert (out / name).is_file()


def test_logits_match_ours(exported, toy):
    _, model, _ = exported
    torch.manual_seed(0)
    ids = torch.randint(0, toy.model.cfg.vocab_size, (3, toy.model.cfg.max_seq_len))
    with torch.no_grad():
        ours, _ = toy.model(ids)
        theirs = model(ids).logits
    assert (ours - theirs).abs().max().item() < 1e-4


def test_greedy_generations_are_identical(exported, toy):
    _, model, hf_tok = exported
    gen = toy.generator(stop_ids=[])
    for text in PROMPTS:
        ids = toy.tok.encode_control(text)  # HF reads "<|im_start|>" in text as the token, as rendered chats need
        assert hf_tok.encode(text) == ids, "the exported tokenizer splits text exactly like ours"
        ours = gen.generate([ids], SamplingParams.greedy(24))[0]
        x = torch.tensor([ids])
        with torch.no_grad():
            out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=24, min_new_tokens=24,
                                 do_sample=False, eos_token_id=None, pad_token_id=toy.tok.pad_id)
        assert out[0, len(ids):].tolist() == ours, text


def test_tokenizer_specials_and_chat_template(exported, toy):
    _, _, hf_tok = exported
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]
    rendered = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == toy.tok.render_chat(messages, add_generation_prompt=True)
    assert hf_tok.encode(rendered, add_special_tokens=True) == toy.tok.encode_chat(messages, True)[0]
    assert hf_tok.eos_token == "<|im_end|>" and hf_tok.pad_token == "<|pad|>" and hf_tok.bos_token is None
    assert hf_tok.decode(toy.tok.encode("北京 12 + 35")) == "北京 12 + 35"


def test_untied_model_exports_its_head(tmp_path):
    toy = build_toy(tmp_path / "run", tie_embeddings=False)
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(export_hf(toy.folder, tmp_path / "hf"), local_files_only=True)
    ids = torch.tensor([toy.tok.encode("What is 3 + 4?")])
    with torch.no_grad():
        assert (toy.model(ids)[0] - model(ids).logits).abs().max().item() < 1e-4


@pytest.mark.parametrize("shape", [dict(activation="geglu"), dict(activation="gelu"), dict(qk_norm=True)])
def test_models_llama_cannot_express_are_refused(tmp_path, shape):
    toy = build_toy(tmp_path / "run", **shape)
    with pytest.raises(UserError, match="cannot be exported as Llama"):
        export_hf(toy.folder, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_existing_output_is_refused(toy, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        export_hf(toy.folder, tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    assert (export_hf(toy.folder, tmp_path / "empty") / "config.json").is_file()


def test_cli_export(toy, tmp_path, capsys):
    from engine.cli import main
    assert main(["export", str(toy.folder.parent.parent), "--format", "hf", "--out", str(tmp_path / "x")]) == 0
    assert "LlamaForCausalLM" in capsys.readouterr().out and (tmp_path / "x" / "model.safetensors").is_file()
    assert main(["export", str(toy.folder), "--out", str(tmp_path / "x")]) == 2
    assert "already exists" in capsys.readouterr().err

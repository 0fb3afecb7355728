"""How many graphs a compiled run compiles: one for the training step, none for evaluation or generation (they run
the same modules eagerly), and the probe before the first step compiles the very graph the steps then reuse. Graphs
are counted with a backend built in-process (no C++ compile), on toy shapes."""

from __future__ import annotations

import copy

import torch

from engine.config import load_config
from engine.evaluate import mean_loss
from engine.events import NullSink
from engine.generate import Generator, SamplingParams
from engine.hardware import init_runtime
from engine.model.apply import apply_compile
from engine.model.gpt import GPT
from engine.train.autobatch import step_probe
from engine.train.compile_guard import compile_model
from engine.train.registry import make_stage
from engine.train.setup import build_parts


class CountingBackend:
    """A torch.compile backend that runs the traced graph as it is and counts how often dynamo compiled one."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, graph, example_inputs):
        self.graphs += 1
        return graph.forward


def _train_step(model: GPT, x: torch.Tensor, y: torch.Tensor) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, loss = model(x, y, reduction="sum")
    loss.backward()
    model.zero_grad(set_to_none=True)


def test_eval_and_generation_compile_nothing_beyond_the_training_graphs(model_cfg):
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = GPT(model_cfg())
    eager = copy.deepcopy(model)
    counter = CountingBackend()
    apply_compile(model, backend=counter)
    x = torch.randint(0, 512, (4, 16))
    y = torch.roll(x, -1, 1)
    _train_step(model, x, y)
    trained = counter.graphs
    assert trained >= 2            # the blocks' shared graph and the cross-entropy: training runs compiled

    batches = iter([{"x": x, "y": y}] * 2)
    with_bf16 = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731 - the runtime's autocast
    val = mean_loss(model, batches, 2, torch.device("cpu"), with_bf16)
    texts = Generator(model, stop_ids=[], pad_id=0).generate([[1, 2, 3], [4, 5, 6, 7, 8]],
                                                             SamplingParams(max_new_tokens=4, temperature=0.0))
    _train_step(model, x, y)       # back to training: the graphs compiled first still serve
    assert counter.graphs == trained, "evaluation or generation compiled graphs of their own"

    # Eval runs the eager module: the very numbers an uncompiled model gives.
    assert val == mean_loss(eager, iter([{"x": x, "y": y}] * 2), 2, torch.device("cpu"), with_bf16)
    assert texts == Generator(eager, stop_ids=[], pad_id=0).generate(
        [[1, 2, 3], [4, 5, 6, 7, 8]], SamplingParams(max_new_tokens=4, temperature=0.0))
    torch._dynamo.reset()


def test_the_probe_before_the_first_step_compiles_the_steps_own_graph(tmp_path, workspace, tok_dir, jsonl,
                                                                      monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # compile_model's setting is undone
    data = jsonl(tmp_path / "t.jsonl", [{"text": f"Line {i} of a short text to train on."} for i in range(60)])
    cfg = load_config(overrides=["model.d_model=32", "model.n_layer=1", "model.n_head=4", "model.n_kv_head=2",
                                 "model.max_seq_len=32", "data.seq_len=16", "run.batch_size=6", "hardware.device=cpu",
                                 "hardware.precision=fp32", "hardware.compile=on", f"data.train=[{data}]",
                                 f"tokenizer.path={tok_dir}", "run.task_eval_items=0"])
    rt = init_runtime(cfg.hardware, cfg.run.seed)
    parts = build_parts(cfg, make_stage("pretrain"), workspace, NullSink(), rt, None)
    torch._dynamo.reset()
    counter = CountingBackend()
    assert compile_model(parts, rt, NullSink(), backend=counter) is True
    probed = counter.graphs
    step_probe(parts, rt, budget=2**62)(cfg.run.batch_size)   # a training step at the run's micro-batch
    assert counter.graphs == probed, "the first step compiled again: the probe compiled another batch size"
    torch._dynamo.reset()


def test_apply_compile_covers_every_block_and_the_final_norm_and_remove_compile_undoes_it(model_cfg):
    """The final norm sits between the compiled blocks and the compiled loss; left eager it cost ~2% of the tiny
    preset's compiled CPU step, so it is a region of its own."""
    from engine.model.apply import remove_compile
    model = GPT(model_cfg())
    apply_compile(model, backend=CountingBackend())
    regions = [*model.blocks, model.norm]
    assert all(m._compiled_call_impl is not None for m in regions)
    assert "token_loss" in model.__dict__
    remove_compile(model)
    assert all(m._compiled_call_impl is None for m in regions)
    assert "token_loss" not in model.__dict__

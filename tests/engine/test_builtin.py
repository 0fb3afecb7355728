"""The built-in dataset: determinism, file shapes, a held-out split that never leaks, and answers that are right.

Answers are recomputed here from the prompt text with this file's own rules, not with the generator's code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.data import builtin
from engine.data.builtin import (
    BUILTIN_VERSION,
    FILE_STEMS,
    TASK_FAMILIES,
    builtin_file,
    check_answer,
    ensure_builtin,
    extract_answer,
    generate_builtin,
)
from engine.data.builtin_tasks import is_held_out

SMALL_COUNTS = {stem: 20 for stem in builtin.RECORD_COUNTS}

# unit name -> (canonical name, dimension, size in the dimension's smallest unit)
UNITS = {
    **{n: ("mm", "length", 1) for n in ("millimeters", "毫米")},
    **{n: ("cm", "length", 10) for n in ("centimeter", "centimeters", "厘米")},
    **{n: ("m", "length", 1000) for n in ("meter", "meters", "米")},
    **{n: ("km", "length", 1_000_000) for n in ("kilometer", "kilometers", "千米")},
    **{n: ("g", "mass", 1) for n in ("gram", "grams", "克")},
    **{n: ("kg", "mass", 1000) for n in ("kilogram", "kilograms", "千克")},
    **{n: ("ml", "volume", 1) for n in ("milliliters", "毫升")},
    **{n: ("l", "volume", 1000) for n in ("liter", "liters", "升")},
    **{n: ("s", "time", 1) for n in ("second", "seconds", "秒")},
    **{n: ("min", "time", 60) for n in ("minute", "minutes", "分钟")},
    **{n: ("h", "time", 3600) for n in ("hour", "hours", "小时")},
    **{n: ("day", "time", 86400) for n in ("day", "days", "天")},
    **{n: ("week", "time", 7 * 86400) for n in ("week", "weeks", "周")},
    **{n: ("month", "calendar", 1) for n in ("month", "months", "个月")},
    **{n: ("year", "calendar", 12) for n in ("year", "years", "年")},
}
UNIT_RE = "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True))
ARITHMETIC = {"+": 1, "加": 1, "加上": 1, "plus": 1, "-": -1, "减": -1, "减去": -1, "minus": -1}


def solve(prompt: str) -> tuple[tuple, str] | None:
    """(instance key, answer) for a checkable prompt; None for anything else (dialogue)."""
    m = re.search(r"(\d+)\s*(\+|-|加上|加|减去|减)\s*(\d+)", prompt)
    if m:
        a, sign, b = int(m[1]), ARITHMETIC[m[2]], int(m[3])
        return ("add" if sign > 0 else "sub", a, b), str(a + sign * b)
    m = re.search(r"[:：]\s*([a-z]{3,8})$", prompt)
    if m:
        s = m[1]
        if any(word in prompt.lower() for word in ("reverse", "backwards", "反转", "倒")):
            return ("reverse", s), s[::-1]
        assert any(w in prompt.lower() for w in ("repeat", "copy", "back exactly", "again", "重复", "照抄", "复制"))
        return ("copy", s), s
    quoted = sorted(re.findall(r"'([a-z]+)'", prompt), key=len)
    if len(quoted) == 2 and len(quoted[0]) == 1 < len(quoted[1]):
        letter, word = quoted
        return ("count_letter", word, letter), str(word.count(letter))
    m = re.search(r"[:：]\s*([^:：]+?)[?？.。]?$", prompt)
    if m and ("、" in m[1] or ", " in m[1]):
        items = tuple(re.split("、|, ", m[1]))
        return ("count_items", items), str(len(items))
    m = re.search(rf"(\d+) ?({UNIT_RE})", prompt)
    if m:
        rest = prompt[: m.start()] + prompt[m.end():]
        target = re.search(UNIT_RE, rest)
        (src, dim, size), (dst, dim_to, size_to) = UNITS[m[2]], UNITS[target[0]]
        assert dim == dim_to and size * int(m[1]) % size_to == 0, prompt
        return ("unit", src, dst, int(m[1])), str(size * int(m[1]) // size_to)
    return None


STATEMENTS = [  # (family, pattern) of the plain-text forms of solved tasks in pretraining documents
    ("arithmetic", r"(?P<a>\d+) (?P<op>\+|-|plus|minus|加|减) (?P<b>\d+) (?:=|is|等于) (?P<ans>\d+)[.。]?"),
    ("count_letter", r"The letter '(?P<c>[a-z])' appears (?P<ans>\d+) times? in '(?P<w>[a-z]+)'\."),
    ("count_letter", r"The word '(?P<w>[a-z]+)' has (?P<ans>\d+) '(?P<c>[a-z])'\."),
    ("count_letter", r"单词 '(?P<w>[a-z]+)' 里有 (?P<ans>\d+) 个字母 '(?P<c>[a-z])'。"),
    ("count_items", r"The list (?P<items>.+) has (?P<ans>\d+) items\."),
    ("count_items", r"(?P<items>\S+) 一共有 (?P<ans>\d+) 项。"),
    ("copy", r"Repeating '(?P<s>[a-z]+)' exactly gives '(?P<ans>[a-z]+)'\."),
    ("copy", r"原样重复 (?P<s>[a-z]+) 得到 (?P<ans>[a-z]+)。"),
    ("reverse", r"'(?P<s>[a-z]+)' reversed is '(?P<ans>[a-z]+)'\."),
    ("reverse", r"Spelled backwards, (?P<s>[a-z]+) is (?P<ans>[a-z]+)\."),
    ("reverse", r"(?P<s>[a-z]+) 倒过来是 (?P<ans>[a-z]+)。"),
    ("unit", r"There are (?P<ans>\d+) (?P<to>[a-z]+) in (?P<n>\d+) (?P<fr>[a-z]+)\."),
    ("unit", r"(?P<n>\d+) (?P<fr>[a-z]+) = (?P<ans>\d+) (?P<to>[a-z]+)\."),
    ("unit", r"(?P<n>\d+)(?P<fr>\D+)等于(?P<ans>\d+)(?P<to>\D+)。"),
]


def solve_statement(line: str) -> tuple[tuple, str, str] | None:
    """(instance key, answer the line states, true answer) for a solved task written as a sentence."""
    for family, pattern in STATEMENTS:
        m = re.fullmatch(pattern, line)
        if m is None:
            continue
        g = m.groupdict()
        if family == "arithmetic":
            a, sign, b = int(g["a"]), ARITHMETIC[g["op"]], int(g["b"])
            return ("add" if sign > 0 else "sub", a, b), g["ans"], str(a + sign * b)
        if family == "count_letter":
            return ("count_letter", g["w"], g["c"]), g["ans"], str(g["w"].count(g["c"]))
        if family == "count_items":
            items = tuple(re.split("、|, ", g["items"]))
            return ("count_items", items), g["ans"], str(len(items))
        if family in ("copy", "reverse"):
            return (family, g["s"]), g["ans"], g["s"] if family == "copy" else g["s"][::-1]
        (src, _, size), (dst, _, size_to) = UNITS[g["fr"]], UNITS[g["to"]]
        return ("unit", src, dst, int(g["n"])), g["ans"], str(int(g["n"]) * size // size_to)
    return None


CHATML_EXCHANGE = r"<\|im_start\|>user\n(.*?)<\|im_end\|>\n<\|im_start\|>assistant\n(.*?)<\|im_end\|>"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def task_pairs(stem: str, files: dict[str, Path]) -> list[tuple[str, str]]:
    """(prompt, answer given) for every user/assistant or prompt/answer pair in a file, tasks and dialogue alike."""
    records = read_jsonl(files[stem])
    if stem.startswith("sft"):
        return [(c[i]["content"], c[i + 1]["content"]) for c in (r["conversations"] for r in records)
                for i in range(len(c) - 1) if c[i]["role"] == "user"]
    if stem.startswith(("preference", "reward")):
        return [(r["prompt"], r["chosen"]) for r in records]
    if stem.startswith("pretrain"):
        pairs = []
        for text in (r["text"] for r in records):
            pairs += re.findall(r"(?:Question|问题)[:：] ?(.+?) (?:Answer|答案)[:：] ?(.+?)[.。]?$", text, re.M)
            pairs += re.findall(r"^(?:Q: |问：)(.+)\n(?:A: |答：)(.+)$", text, re.M)
            pairs += re.findall(CHATML_EXCHANGE, text, re.S)
        return pairs
    return [(r["prompt"], r["answer"]) for r in records]


def instance_keys(stem: str, files: dict[str, Path]) -> set[tuple]:
    """Keys of every checkable instance in a file, after checking each given answer against the recomputed one."""
    keys = set()
    for prompt, given in task_pairs(stem, files):
        solved = solve(prompt)
        if solved is not None:
            assert given == solved[1], f"{stem}: {prompt!r} -> {given!r}, expected {solved[1]!r}"
            keys.add(solved[0])
    if stem.startswith("pretrain"):
        for line in (line for r in read_jsonl(files[stem]) for line in r["text"].split("\n")):
            solved = solve_statement(line)
            if solved is not None:
                assert solved[1] == solved[2], f"{stem}: {line!r}"
                keys.add(solved[0])
    return keys


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate_builtin(tmp_path_factory.mktemp("builtin") / "seed0", seed=0)


def test_same_seed_gives_byte_identical_files(files: dict[str, Path], tmp_path: Path) -> None:
    again = generate_builtin(tmp_path / "again", seed=0)
    assert set(again) == set(files) == {*FILE_STEMS, "manifest"}
    for stem, path in files.items():
        assert path.read_bytes() == again[stem].read_bytes(), stem


def test_output_does_not_depend_on_python_hash_seed(tmp_path: Path) -> None:
    script = ("import sys; from pathlib import Path; from engine.data import builtin; "
              f"builtin.RECORD_COUNTS = {SMALL_COUNTS!r}; builtin.generate_builtin(Path(sys.argv[1]), seed=5)")
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed)], check=True, env=env)
    for stem in FILE_STEMS:
        assert (tmp_path / "1" / f"{stem}.jsonl").read_bytes() == (tmp_path / "2" / f"{stem}.jsonl").read_bytes()


def test_other_seed_gives_other_content(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(builtin, "RECORD_COUNTS", SMALL_COUNTS)
    first, second = generate_builtin(tmp_path / "s1", seed=1), generate_builtin(tmp_path / "s2", seed=2)
    for stem in FILE_STEMS:
        assert first[stem].read_bytes() != second[stem].read_bytes(), stem


def test_files_parse_with_expected_keys_and_sizes(files: dict[str, Path]) -> None:
    expected_keys = {"pretrain": {"text"}, "sft": {"conversations"}, "preference": {"prompt", "chosen", "rejected"},
                     "reward": {"prompt", "chosen", "rejected"},
                     "rl_prompt": {"prompt", "task", "lang", "answer"}, "tasks": {"task", "lang", "prompt", "answer"}}
    manifest = json.loads(files["manifest"].read_text(encoding="utf-8"))
    assert manifest["version"] == BUILTIN_VERSION and manifest["seed"] == 0
    for stem in FILE_STEMS:
        records = read_jsonl(files[stem])
        assert manifest["files"][stem] == {"file": f"{stem}.jsonl", "records": len(records),
                                           "bytes": files[stem].stat().st_size}
        for record in records:
            assert set(record) == expected_keys[stem.rsplit("_", 1)[0]], stem
            assert all(isinstance(v, str) and v.strip() for v in record.values() if not isinstance(v, list)), record
    assert 15_000 <= len(read_jsonl(files["pretrain_train"])) <= 25_000
    assert 8_000 <= len(read_jsonl(files["sft_train"])) <= 12_000
    assert sum(path.stat().st_size for path in files.values()) < 8_000_000
    assert "我是 MiniGPT" in files["sft_train"].read_text(encoding="utf-8")  # written as UTF-8, not \\u escapes


def test_conversations_have_valid_roles(files: dict[str, Path]) -> None:
    for stem in ("sft_train", "sft_val"):
        multi_turn = with_system = 0
        for record in read_jsonl(files[stem]):
            roles = [m["role"] for m in record["conversations"]]
            assert all(set(m) == {"role", "content"} and m["content"].strip() for m in record["conversations"])
            if roles[0] == "system":
                with_system += 1
                roles = roles[1:]
            assert roles and roles == ["user", "assistant"] * (len(roles) // 2), roles
            multi_turn += len(roles) > 2
        assert multi_turn > 0 and with_system > 0


def test_pretrain_mixes_prose_tasks_and_inline_chat(files: dict[str, Path]) -> None:
    texts = [r["text"] for r in read_jsonl(files["pretrain_train"])]
    chat = sum("<|im_start|>user\n" in t for t in texts)
    qa = sum("Question: " in t or "问题：" in t for t in texts)
    assert 0.1 < chat / len(texts) < 0.3 and qa > 500
    assert any("Water boils at 100 degrees Celsius." in t for t in texts)
    assert sum(not re.search(r"\d", t) for t in texts) > 0.3 * len(texts)  # plenty of plain prose


def test_every_answer_is_correct_and_held_out_items_never_reach_training(files: dict[str, Path]) -> None:
    train = {stem: instance_keys(stem, files) for stem in FILE_STEMS if stem.endswith("_train")}
    held_out = {stem: instance_keys(stem, files) for stem in FILE_STEMS if stem.endswith("_val")}
    assert all(len(keys) > 100 for keys in (*train.values(), *held_out.values()))
    train_keys = set().union(*train.values())
    for stem, keys in held_out.items():
        assert not keys & train_keys, f"{stem} shares instances with training: {sorted(keys & train_keys)[:5]}"
    train_prompts = {p for stem in train for p, _ in task_pairs(stem, files)}
    for stem in ("tasks_val", "rl_prompt_val"):
        assert not {p for p, _ in task_pairs(stem, files)} & train_prompts


def test_reward_pairs_are_the_preference_pairs_plus_near_misses_of_the_drill_families(files) -> None:
    reward, preference = read_jsonl(files["reward_train"]), read_jsonl(files["preference_train"])
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    extra = Counter(map(key, reward)) - Counter(map(key, preference))          # a multiset: pairs may repeat
    assert sum(extra.values()) == len(reward) - len(preference) == builtin.RECORD_COUNTS["reward_train"]
    assert not Counter(map(key, preference)) - Counter(map(key, reward))       # DPO's pairs, every one of them
    drill = [json.loads(k) for k, n in extra.items() for _ in range(n)]
    families = Counter(solve(r["prompt"])[0][0] for r in drill)
    assert set(families) == set(builtin.REWARD_DRILL_FAMILIES)
    assert max(families.values()) - min(families.values()) <= 2 * builtin.REWARD_DRILL_WRONG   # balanced
    assert all(r["rejected"] != r["chosen"] and r["rejected"].strip() for r in drill)
    # shuffled in, not appended or prepended: about half of DPO's pairs sit in the file's first half (0 or all if not)
    first_half = Counter(map(key, reward[:len(reward) // 2]))
    in_first = sum(min(n, first_half[k]) for k, n in Counter(map(key, preference)).items())
    assert 0.3 * len(preference) < in_first < 0.7 * len(preference)


def test_task_files_are_fully_checkable(files: dict[str, Path]) -> None:
    for stem in ("rl_prompt_train", "rl_prompt_val", "tasks_val"):
        for record in read_jsonl(files[stem]):
            solved = solve(record["prompt"])
            assert solved is not None and solved[0][0] == record["task"], record
            assert record["lang"] == ("zh" if re.search(r"[\u4e00-\u9fff]", record["prompt"]) else "en"), record


def test_tasks_val_is_balanced_over_families_and_languages(files: dict[str, Path]) -> None:
    records = read_jsonl(files["tasks_val"])
    counts = {(f, lang): 0 for f in TASK_FAMILIES for lang in ("en", "zh")}
    for record in records:
        counts[(record["task"], record["lang"])] += 1
    assert 350 <= len(records) <= 450 and len(set(counts.values())) == 1 and min(counts.values()) > 0
    assert len({r["prompt"] for r in records}) == len(records)


def test_preferences_prefer_the_right_answer(files: dict[str, Path]) -> None:
    checked = 0
    for record in read_jsonl(files["preference_train"]):
        assert record["chosen"] != record["rejected"]
        solved = solve(record["prompt"])
        if solved is not None:
            assert check_answer(solved[1], record["chosen"]) and not check_answer(solved[1], record["rejected"])
            checked += 1
    assert 0.5 < checked / 3000 < 0.8


def test_held_out_split_is_a_stable_ten_percent() -> None:
    keys = [f"add:{a}:{b}" for a in range(10, 100) for b in range(10, 100)]
    share = sum(map(is_held_out, keys)) / len(keys)
    assert 0.08 < share < 0.12
    # Pinned: the split comes from sha1 of the key, never from the seed or Python's salted hash().
    pinned = ["add:28:38", "add:33:38", "add:40:38", "add:48:38", "add:73:38", "add:77:38", "add:85:38", "add:89:38"]
    assert [k for k in (f"add:{a}:38" for a in range(10, 100)) if is_held_out(k)] == pinned


@pytest.mark.parametrize(
    ("completion", "correct"),
    [("85", True), (" 85.", True), ("85。", True), ("85\nQuestion: What is 1 + 1?", True), ("85<|im_end|>", True),
     ("\n85\n", True), ("86", False), ("185", False), ("The answer is 85", False), ("", False), ("8 5", False)],
)
def test_check_answer(completion: str, correct: bool) -> None:
    assert check_answer("85", completion) is correct


def test_extract_answer() -> None:
    assert extract_answer("dcba<|im_end|>\n<|im_start|>user") == "dcba"
    assert extract_answer("  qxzt .  \nmore") == "qxzt"
    assert extract_answer("700。后面的话") == "700。后面的话"


def test_ensure_builtin_generates_once_and_reuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(builtin, "RECORD_COUNTS", SMALL_COUNTS)
    folder = ensure_builtin(tmp_path, seed=3)
    assert folder == tmp_path / "data" / f"builtin-v{BUILTIN_VERSION}-seed3"
    assert (folder / "manifest.json").is_file() and [p.name for p in (tmp_path / "data").iterdir()] == [folder.name]
    marker = folder / "sft_train.jsonl"
    marker.write_text("kept\n", encoding="utf-8")
    assert builtin_file(tmp_path, "sft_train", seed=3) == marker and marker.read_text(encoding="utf-8") == "kept\n"
    with pytest.raises(ValueError, match="unknown built-in file"):
        builtin_file(tmp_path, "manifest", seed=3)


def test_ensure_builtin_never_leaves_a_half_written_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def crash(out_dir: Path, seed: int = 0) -> dict[str, Path]:
        (Path(out_dir) / "pretrain_train.jsonl").write_text("{}\n", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(builtin, "generate_builtin", crash)
    with pytest.raises(OSError, match="disk full"):
        ensure_builtin(tmp_path)
    assert list((tmp_path / "data").iterdir()) == []
    monkeypatch.undo()
    monkeypatch.setattr(builtin, "RECORD_COUNTS", SMALL_COUNTS)
    stale = tmp_path / "data" / f"builtin-v{BUILTIN_VERSION}-seed0"
    stale.mkdir()  # a folder without a manifest is regenerated, not trusted
    (stale / "sft_train.jsonl").write_text("garbage\n", encoding="utf-8")
    assert len(read_jsonl(builtin_file(tmp_path, "sft_train"))) == SMALL_COUNTS["sft_train"]

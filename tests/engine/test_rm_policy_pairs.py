"""The on-policy pair writer's labelling (bench/rm_policy_pairs.py): right vs wrong by the rule reward, no training."""

from __future__ import annotations

from bench.rm_policy_pairs import label_pairs


def test_right_reply_is_chosen_over_each_distinct_wrong_one():
    replies = ["31000", "33000", "31000.", "33000", "  37000", "31000\nand more", ""]
    pairs = label_pairs("Convert 31 liters to milliliters.", replies, "31000", max_pairs=10)
    chosen = {p["chosen"] for p in pairs}
    rejected = [p["rejected"] for p in pairs]
    # exact_match takes the answer line without its full stop: all three spellings of 31000 are right
    assert chosen <= {"31000", "31000.", "31000\nand more"}
    # every distinct wrong reply (the empty one too) is rejected, and appears first paired round-robin
    assert rejected[:3] == ["33000", "37000", ""]
    assert {"33000", "37000", ""} == set(rejected)
    assert all(p["prompt"] == "Convert 31 liters to milliliters." for p in pairs)
    assert len(pairs) == 9 and len({(p["chosen"], p["rejected"]) for p in pairs}) == 9   # 3 right x 3 wrong, distinct


def test_cap_and_prompts_without_both_kinds():
    replies = ["a", "b", "c", "d", "e", "right"]
    pairs = label_pairs("Copy: right", replies, "right", max_pairs=3)
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("right", "a"), ("right", "b"), ("right", "c")]
    assert label_pairs("p", ["x", "y"], "right", max_pairs=4) == []          # no right reply: nothing to prefer
    assert label_pairs("p", ["right", "right."], "right", max_pairs=4) == []  # no wrong reply

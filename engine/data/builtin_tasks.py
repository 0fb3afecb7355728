"""Checkable task families of the built-in dataset: instances, the held-out split, wordings and answers.

Owns what a task instance is (family, instance key, answer), how its prompt is worded in English and Chinese, how it
reads as plain text, plausible wrong answers, and which instances are held out (a stable hash of the instance key,
independent of the seed). It knows nothing about files, chat formats or training stages.
"""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import dataclass

TASK_FAMILIES: tuple[str, ...] = ("add", "sub", "count_letter", "count_items", "copy", "reverse", "unit")
LANGS: tuple[str, ...] = ("en", "zh")
HELD_OUT_PERCENT = 10

# Words whose letters are counted; English in both languages, as the question is about spelling.
COUNT_WORDS: tuple[str, ...] = tuple(
    """banana apple letter coffee balloon pepper summer river garden yellow purple orange window dinner butter
    rabbit kitten puppy cookie little bottle button carrot cherry mirror pillow pizza tomato potato school street
    teacher student library holiday birthday morning evening weather thunder rainbow blanket kettle needle bubble
    puzzle jigger happy sunny funny bread cheese grass green sheep tree seed moon noon book door floor spoon
    banner cinnamon pineapple strawberry chocolate elephant giraffe monkey tiger zebra parrot eagle turtle dolphin
    penguin hello goodbye mountain ocean island forest desert valley castle rocket planet comet galaxy music piano
    guitar violin drum basket pocket jacket sweater mitten scissors paper pencil eraser marker sticker umbrella
    doctor nurse farmer baker letters committee address success assess tennis soccer hockey cotton silk wool""".split()
)

COUNT_ITEMS = {
    "en": tuple(
        """apple pear fig plum grape lemon melon peach mango cherry kiwi orange banana carrot onion potato tomato
        pepper bread cheese egg milk rice tea cup plate spoon fork knife bowl chair table lamp book pen pencil
        clock key hat shoe sock coat ball kite drum bell box bag""".split()
    ),
    "zh": tuple(
        """苹果 梨 无花果 李子 葡萄 柠檬 西瓜 桃子 芒果 樱桃 橙子 香蕉 胡萝卜 洋葱 土豆 西红柿 辣椒 面包 奶酪 鸡蛋
        牛奶 米饭 茶 杯子 盘子 勺子 叉子 刀 碗 椅子 桌子 台灯 书 钢笔 铅笔 钟 钥匙 帽子 鞋子 袜子 外套 球 风筝 鼓 铃铛
        盒子 书包""".split()
    ),
}

# (id, factor, English from-unit singular, plural, English to-unit, Chinese from-unit, Chinese to-unit)
UNIT_CONVERSIONS: tuple[tuple[str, int, str, str, str, str, str], ...] = (
    ("m_cm", 100, "meter", "meters", "centimeters", "米", "厘米"),
    ("km_m", 1000, "kilometer", "kilometers", "meters", "千米", "米"),
    ("cm_mm", 10, "centimeter", "centimeters", "millimeters", "厘米", "毫米"),
    ("kg_g", 1000, "kilogram", "kilograms", "grams", "千克", "克"),
    ("l_ml", 1000, "liter", "liters", "milliliters", "升", "毫升"),
    ("h_min", 60, "hour", "hours", "minutes", "小时", "分钟"),
    ("min_s", 60, "minute", "minutes", "seconds", "分钟", "秒"),
    ("day_h", 24, "day", "days", "hours", "天", "小时"),
    ("week_day", 7, "week", "weeks", "days", "周", "天"),
    ("year_month", 12, "year", "years", "months", "年", "个月"),
)
UNIT_MAX_QUANTITY = 40

# Prompt wordings: every one keeps the instance readable by a rule (numbers with + / -, quoted letter and word,
# a list or a string after the last colon).
PROMPTS: dict[str, dict[str, tuple[str, ...]]] = {
    "add": {
        "en": ("What is {a} + {b}?", "Calculate {a} + {b}.", "Compute {a} + {b}.", "{a} + {b} = ?",
               "Please work out {a} + {b}.", "What do you get for {a} + {b}?"),
        "zh": ("计算 {a} + {b} 等于多少？", "{a} + {b} 等于几？", "请算一下 {a} + {b}。", "{a} 加 {b} 是多少？",
               "{a} 加上 {b} 等于多少？"),
    },
    "sub": {
        "en": ("What is {a} - {b}?", "Calculate {a} - {b}.", "Compute {a} - {b}.", "{a} - {b} = ?",
               "Please work out {a} - {b}.", "What do you get for {a} - {b}?"),
        "zh": ("计算 {a} - {b} 等于多少？", "{a} - {b} 等于几？", "请算一下 {a} - {b}。", "{a} 减 {b} 是多少？",
               "{a} 减去 {b} 等于多少？"),
    },
    "count_letter": {
        "en": ("How many times does the letter '{c}' appear in '{w}'?", "Count the letter '{c}' in the word '{w}'.",
               "How many '{c}' letters are in the word '{w}'?", "In the word '{w}', how many times does '{c}' appear?"),
        "zh": ("字母 '{c}' 在单词 '{w}' 中出现了几次？", "单词 '{w}' 里有几个字母 '{c}'？",
               "数一数 '{w}' 中字母 '{c}' 出现的次数。"),
    },
    "count_items": {
        "en": ("How many items are in this list: {items}?", "Count the items in this list: {items}.",
               "How many things are listed here: {items}?", "How many words are in this list: {items}?"),
        "zh": ("这个列表里有几样东西：{items}？", "数一数下面有几项：{items}。", "下列清单中一共有多少项：{items}？"),
    },
    "copy": {
        "en": ("Repeat exactly:\n{s}", "Copy this string:\n{s}", "Write this back exactly:\n{s}",
               "Say this again:\n{s}"),
        "zh": ("请原样重复：\n{s}", "照抄这个字符串：\n{s}", "复制下面的字符串：\n{s}"),
    },
    "reverse": {
        "en": ("Reverse the string:\n{s}", "Write this string backwards:\n{s}", "Reverse the letters:\n{s}",
               "Spell this backwards:\n{s}"),
        "zh": ("反转这个字符串：\n{s}", "把这个字符串倒过来写：\n{s}", "请倒序输出：\n{s}"),
    },
    "unit": {
        "en": ("How many {to} are in {n} {fr}?", "How many {to} are there in {n} {fr}?", "Convert {n} {fr} to {to}.",
               "{n} {fr} is how many {to}?"),
        "zh": ("{n}{fr}等于多少{to}？", "{n}{fr}有多少{to}？", "{n}{fr}是多少{to}？"),
    },
}

# The same facts as plain sentences, for pretraining text.
STATEMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "add": {"en": ("{a} + {b} = {ans}", "{a} plus {b} is {ans}."),
            "zh": ("{a} + {b} = {ans}", "{a} 加 {b} 等于 {ans}。")},
    "sub": {"en": ("{a} - {b} = {ans}", "{a} minus {b} is {ans}."),
            "zh": ("{a} - {b} = {ans}", "{a} 减 {b} 等于 {ans}。")},
    "count_letter": {
        "en": ("The letter '{c}' appears {ans} {times} in '{w}'.", "The word '{w}' has {ans} '{c}'."),
        "zh": ("单词 '{w}' 里有 {ans} 个字母 '{c}'。",),
    },
    "count_items": {"en": ("The list {items} has {ans} items.",), "zh": ("{items} 一共有 {ans} 项。",)},
    "copy": {"en": ("Repeating '{s}' exactly gives '{s}'.",), "zh": ("原样重复 {s} 得到 {s}。",)},
    "reverse": {"en": ("'{s}' reversed is '{ans}'.", "Spelled backwards, {s} is {ans}."),
                "zh": ("{s} 倒过来是 {ans}。",)},
    "unit": {"en": ("There are {ans} {to} in {n} {fr}.", "{n} {fr} = {ans} {to}."), "zh": ("{n}{fr}等于{ans}{to}。",)},
}


@dataclass(frozen=True)
class TaskItem:
    """One worded task: `key` names the instance independent of language and wording."""

    family: str
    lang: str
    key: str
    prompt: str
    answer: str
    statement: str


def is_held_out(key: str) -> bool:
    """True for the ~HELD_OUT_PERCENT% of instance keys reserved for evaluation, the same for every seed."""
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def _operand(rng: random.Random, digits: int) -> int:
    return rng.randint(10, 99) if digits == 2 else rng.randint(100, 999)


def _draw_add(rng: random.Random, lang: str) -> tuple[str, dict, str]:
    da, db = rng.choice(((2, 2), (2, 2), (3, 2), (2, 3), (3, 3)))
    a, b = _operand(rng, da), _operand(rng, db)
    return f"add:{a}:{b}", {"a": a, "b": b}, str(a + b)


def _draw_sub(rng: random.Random, lang: str) -> tuple[str, dict, str]:
    da, db = rng.choice(((2, 2), (2, 2), (3, 2), (3, 3)))
    a, b = _operand(rng, da), _operand(rng, db)
    a, b = max(a, b), min(a, b)
    return f"sub:{a}:{b}", {"a": a, "b": b}, str(a - b)


def _draw_count_letter(rng: random.Random, lang: str) -> tuple[str, dict, str]:
    word = rng.choice(COUNT_WORDS)
    if rng.random() < 0.15:
        letter = rng.choice([c for c in string.ascii_lowercase if c not in word])
    else:
        letter = rng.choice(sorted(set(word)))
    count = word.count(letter)
    fields = {"w": word, "c": letter, "times": "time" if count == 1 else "times"}
    return f"count_letter:{word}:{letter}", fields, str(count)


def _draw_count_items(rng: random.Random, lang: str) -> tuple[str, dict, str]:
    items = rng.sample(COUNT_ITEMS[lang], rng.randint(2, 6))
    joined = "、".join(items) if lang == "zh" else ", ".join(items)
    return f"count_items:{lang}:{'|'.join(items)}", {"items": joined}, str(len(items))


def _random_letters(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8)))


def _draw_copy(rng: random.Random, lang: str) -> tuple[str, dict, str]:
    s = _random_letters(rng)
    return f"copy:{s}", {"s": s}, s


def _draw_reverse(rng: random.Random, lang: str) -> tuple[str, dict, str]:
    s = _random_letters(rng)
    return f"reverse:{s}", {"s": s}, s[::-1]


def _draw_unit(rng: random.Random, lang: str) -> tuple[str, dict, str]:
    conv_id, factor, en_one, en_many, en_to, zh_from, zh_to = rng.choice(UNIT_CONVERSIONS)
    n = rng.randint(1, UNIT_MAX_QUANTITY)
    if lang == "zh":
        fields = {"n": n, "fr": zh_from, "to": zh_to}
    else:
        fields = {"n": n, "fr": en_one if n == 1 else en_many, "to": en_to}
    return f"unit:{conv_id}:{n}", fields, str(n * factor)


_DRAWERS = {
    "add": _draw_add, "sub": _draw_sub, "count_letter": _draw_count_letter, "count_items": _draw_count_items,
    "copy": _draw_copy, "reverse": _draw_reverse, "unit": _draw_unit,
}


def sample_task(rng: random.Random, family: str, lang: str, held_out: bool) -> TaskItem:
    """Draw an instance of `family` from the held-out side of the split (held_out=True) or the training side."""
    while True:
        key, fields, answer = _DRAWERS[family](rng, lang)
        if is_held_out(key) == held_out:
            break
    fields["ans"] = answer
    prompt = rng.choice(PROMPTS[family][lang]).format(**fields)
    statement = rng.choice(STATEMENTS[family][lang]).format(**fields)
    return TaskItem(family, lang, key, prompt, answer, statement)


def _wrong_number(rng: random.Random, answer: str, family: str) -> str:
    value = int(answer)
    if family in ("count_letter", "count_items"):
        candidates = [value + 1, value - 1, value + 2]
    else:
        candidates = [value + 1, value - 1, value + 10, value - 10]
        if len(answer) >= 2 and answer[-1] != answer[-2]:
            candidates.append(int(answer[:-2] + answer[-1] + answer[-2]))  # two digits swapped
        position = rng.randrange(len(answer))
        digit = str((int(answer[position]) + rng.choice((1, 9))) % 10)
        candidates.append(int(answer[:position] + digit + answer[position + 1:]))  # one digit wrong
        if family == "unit":
            candidates += [value * 10, value // 10 if value % 10 == 0 else value + 100]  # wrong factor
    floor = 1 if family == "count_items" else 0
    candidates = [c for c in candidates if c >= floor and str(c) != answer]
    return str(rng.choice(candidates))


def _wrong_letters(rng: random.Random, answer: str, original: str) -> str:
    i = rng.randrange(len(answer))
    candidates = [
        answer[:i] + answer[i + 1:],  # a letter dropped
        answer[:i] + answer[i] + answer[i:],  # a letter doubled
        answer[:i] + rng.choice(string.ascii_lowercase.replace(answer[i], "")) + answer[i + 1:],  # one letter wrong
        original,  # not reversed / reversed by mistake
    ]
    if i + 1 < len(answer) and answer[i] != answer[i + 1]:
        candidates.append(answer[:i] + answer[i + 1] + answer[i] + answer[i + 2:])  # neighbours swapped
    return rng.choice([c for c in candidates if c != answer])


def wrong_answer(rng: random.Random, item: TaskItem) -> str:
    """A plausible but wrong answer: off by one, a wrong digit, a botched copy or reversal."""
    if item.family in ("copy", "reverse"):
        return _wrong_letters(rng, item.answer, item.answer[::-1])
    return _wrong_number(rng, item.answer, item.family)

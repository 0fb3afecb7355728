"""The manual cannot rot silently: every `path::symbol` it cites names a real definition, every `minigpt` command
it shows parses with the real CLI, and the English and Chinese editions cite the same code chapter by chapter."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from engine.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "docs" / "manual"
LANGS = ("en", "zh")
REF = re.compile(r"`([\w./-]+\.py)::([\w.]+)`")
FENCE = re.compile(r"```(?:bash|sh|console)\n(.*?)```", re.S)
SECTIONS = {"en": ("## Experiment", "## Exercises"), "zh": ("## 实验", "## 练习")}


def chapters(lang: str) -> list[Path]:
    return sorted((MANUAL / lang).glob("[0-9][0-9]-*.md"))


def all_chapters() -> list[Path]:
    return [p for lang in LANGS for p in chapters(lang)]


def defined_names(tree: ast.AST) -> dict[str, ast.AST]:
    """Top-level classes, functions and assigned names, plus Class.member for methods and class attributes."""
    names: dict[str, ast.AST] = {}
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
            if isinstance(node, ast.ClassDef):
                for member, sub in defined_names(node).items():
                    names[f"{node.name}.{member}"] = sub
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    names[t.id] = node
    return names


def commands(text: str) -> list[str]:
    """`minigpt ...` lines of the shell blocks, with backslash continuations joined and `$ ` prompts dropped."""
    found = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("minigpt "):
                found.append(line.split(" #")[0])
    return found


def test_both_editions_have_the_same_eight_chapters():
    numbers = {lang: [p.name[:2] for p in chapters(lang)] for lang in LANGS}
    assert numbers["en"] == [f"{i:02d}" for i in range(1, 9)], numbers
    assert numbers["zh"] == numbers["en"]


@pytest.mark.parametrize("chapter", all_chapters(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_code_reference_resolves(chapter: Path):
    refs = REF.findall(chapter.read_text(encoding="utf-8"))
    assert refs, f"{chapter.name} cites no code"
    trees: dict[str, dict[str, ast.AST]] = {}
    for path, symbol in refs:
        source = ROOT / path
        assert source.is_file(), f"{chapter}: `{path}::{symbol}` names a file that does not exist"
        if path not in trees:
            trees[path] = defined_names(ast.parse(source.read_text(encoding="utf-8")))
        assert symbol in trees[path], f"{chapter}: `{path}::{symbol}` is not defined in {path}"


@pytest.mark.parametrize("chapter", all_chapters(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_command_parses(chapter: Path):
    parser = build_parser()
    for line in commands(chapter.read_text(encoding="utf-8")):
        argv = shlex.split(line)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{chapter}: `{line}` does not parse (exit {exc.code})")


@pytest.mark.parametrize("chapter", all_chapters(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_chapter_has_an_experiment_and_exercises(chapter: Path):
    text = chapter.read_text(encoding="utf-8")
    for heading in SECTIONS[chapter.parent.name]:
        assert heading in text, f"{chapter} lacks the section {heading!r}"
    assert commands(text) or "studio" in text.lower() or "工作室" in text, f"{chapter}: the experiment runs nothing"


def test_the_two_editions_cite_the_same_code():
    for en in chapters("en"):
        zh = next(p for p in chapters("zh") if p.name[:2] == en.name[:2])
        en_refs = set(REF.findall(en.read_text(encoding="utf-8")))
        zh_refs = set(REF.findall(zh.read_text(encoding="utf-8")))
        assert en_refs == zh_refs, (f"chapter {en.name[:2]}: only in en {en_refs - zh_refs}, "
                                    f"only in zh {zh_refs - en_refs}")


def test_the_manual_cites_at_least_forty_definitions():
    refs = {ref for p in all_chapters() for ref in REF.findall(p.read_text(encoding="utf-8"))}
    assert len(refs) >= 40, f"only {len(refs)} distinct code references"


@pytest.mark.parametrize("chapter", all_chapters(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_chapter_is_left_with_a_placeholder(chapter: Path):
    assert "RESULTS_" not in chapter.read_text(encoding="utf-8"), f"{chapter}: an experiment's figures are missing"

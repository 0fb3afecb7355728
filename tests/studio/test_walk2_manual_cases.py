"""A `cases` formula in the manual keeps each row's value apart from its condition: the Manual window showed the
repetition penalty as "z_v / α z_v > 0" (pylatexenc drops the `&`), which reads as a product."""

from __future__ import annotations

from pathlib import Path

from studio.manual_text import readable_markdown, tex_to_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "manual"


def test_a_cases_row_reads_value_comma_condition():
    rows = tex_to_text(r"f(x) = \begin{cases} x / 2 & x > 0 \\ 0 & \text{otherwise} \end{cases}").splitlines()
    assert [r.strip() for r in rows] == ["f(x) = x / 2, x > 0", "0, otherwise"]


def test_an_aligned_ampersand_outside_cases_is_left_alone():
    assert tex_to_text(r"a &= b") == "a = b"


def test_the_repetition_penalty_in_the_manual_reads_right():
    text = readable_markdown((DOCS / "en" / "06-decoding.md").read_text(encoding="utf-8"))
    assert "z'\\_v = z\\_v / α, z\\_v > 0" in text or "z'_v = z_v / α, z_v > 0" in text

"""The in-app manual shows formulas as Unicode text and leaves code exactly as written."""

from __future__ import annotations

from studio.manual_text import readable_markdown


def test_formulas_become_unicode_text():
    out = readable_markdown("The loss $\\mathcal{L} = -\\log \\sigma(\\beta h)$ is small.\n\n$$\\pi_\\text{ref}$$\n")
    assert "σ(βh)" in out.replace(" ", "")
    assert "$" not in out
    assert "π" in out and "\\pi" not in out


def test_code_blocks_and_spans_are_untouched():
    md = "Run `echo $HOME` then:\n\n```bash\n$ minigpt train --set optim.lr=$LR\n```\n\nwith $\\beta$.\n"
    out = readable_markdown(md)
    assert "`echo $HOME`" in out
    assert "$ minigpt train --set optim.lr=$LR" in out
    assert out.rstrip().endswith("with β.")


def test_markdown_specials_in_formulas_are_escaped():
    out = readable_markdown("index $x_t * y_t$ here")
    assert "\\_" in out and "\\*" in out          # not read as emphasis by the Markdown renderer

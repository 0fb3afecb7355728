"""List the .ts entries that still lack a Chinese text (new strings after `make i18n-update`, or ones marked
unfinished), and fill them in: `python -m studio.i18n_missing` prints them (`--json`: one object per line);
`--apply zh.json` writes the translations of a JSON object {source: translation} into those entries (run
`make i18n-update` after it to put the file back in lupdate's own layout, which keeps diffs small).
Exit status 1 while any are missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from studio.i18n import TS_FILES


def missing(ts: Path) -> list[dict]:
    """Entries of `ts` with no finished translation (vanished/obsolete ones are ignored)."""
    out = []
    for context in ET.parse(ts).getroot().iter("context"):
        name = context.findtext("name", "")
        for message in context.iter("message"):
            text = message.find("translation")
            kind = text.get("type") if text is not None else "unfinished"
            if kind in ("vanished", "obsolete"):
                continue
            forms = [f.text for f in text.iter("numerusform")] if text is not None else []
            done = any(forms) if message.get("numerus") == "yes" else bool(text is not None and text.text)
            if kind == "unfinished" or not done:
                out.append({"context": name, "source": message.findtext("source", "")})
    return out


def apply(ts: Path, table: dict[str, str]) -> int:
    """Fill the unfinished entries of `ts` whose source is in `table`; returns how many were filled."""
    tree = ET.parse(ts)
    filled = 0
    for message in tree.getroot().iter("message"):
        source = message.findtext("source", "")
        text = message.find("translation")
        if source not in table or text is None or text.get("type") in ("vanished", "obsolete"):
            continue
        if text.get("type") != "unfinished" and (text.text or list(text)):
            continue
        text.attrib.pop("type", None)
        if message.get("numerus") == "yes":            # Chinese has one plural form
            for form in list(text):
                text.remove(form)
            ET.SubElement(text, "numerusform").text = table[source]
        else:
            text.text = table[source]
        filled += 1
    body = ET.tostring(tree.getroot(), encoding="unicode")
    ts.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + body + "\n", encoding="utf-8")
    return filled


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studio.i18n_missing", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--apply", metavar="FILE", help="JSON object {source: translation} to fill in")
    args = p.parse_args(argv)
    if args.apply:
        table = json.loads(Path(args.apply).read_text(encoding="utf-8"))
        for ts in TS_FILES.values():
            print(f"{ts}: {apply(ts, table)} filled", file=sys.stderr)
    total = 0
    for language, ts in TS_FILES.items():
        for entry in missing(ts):
            total += 1
            print(json.dumps({"language": language, **entry}, ensure_ascii=False) if args.json
                  else f"{ts.name} [{entry['context']}] {entry['source']!r}")
    if not args.json:
        print(f"{total} untranslated" if total else "all translated", file=sys.stderr)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the packaged Chinese font subset from the npm package ``@expo-google-fonts/noto-sans-sc``.

    cd $(mktemp -d) && npm pack @expo-google-fonts/noto-sans-sc@0.4.3 && tar xzf *.tgz
    python scripts/build_cjk_font.py package/400Regular/NotoSansSC_400Regular.ttf

Keeps printable ASCII, Latin-1, general punctuation, CJK punctuation and full-width forms, the
3,755 level-1 characters of GB 2312 (the common hanzi) and every Chinese character found in the
project's own text files (place names, dashboard strings), so that any page or figure rescity
writes draws its Chinese text without a system CJK font. Writes
``src/rescity/report/fonts/NotoSansSC-rescity.ttf`` (OFL-1.1, see ``OFL.txt`` beside it).
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

from fontTools import subset

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src/rescity/report/fonts/NotoSansSC-rescity.ttf"
TEXT_SUFFIXES = {".csv", ".json", ".geojson", ".md", ".html", ".js", ".py", ".txt", ".jsonl"}
HAN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def gb2312_level1() -> str:
    """The 3,755 level-1 hanzi of GB 2312 (rows 16–55)."""
    chars = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return "".join(chars)


def project_chars() -> set[str]:
    found: set[str] = set()
    for p in (ROOT / "src").rglob("*"):
        if p.suffix in TEXT_SUFFIXES or p.name.endswith(".gz"):
            try:
                raw = p.read_bytes()
                text = (gzip.decompress(raw) if p.name.endswith(".gz") else raw).decode("utf-8")
            except (OSError, UnicodeDecodeError, gzip.BadGzipFile):
                continue
            found.update(HAN.findall(text))
    return found


def main(src: str) -> None:
    text = "".join(chr(c) for c in range(0x20, 0x7F)) + "".join(chr(c) for c in range(0xA0, 0x100))
    text += "".join(chr(c) for c in range(0x2010, 0x2070)) + "–—·•…‰′″→←↑↓≤≥≈±×÷°℃"
    text += "".join(chr(c) for c in range(0x3000, 0x3040)) + "".join(chr(c) for c in range(0xFF01, 0xFF5F))
    text += gb2312_level1() + "".join(sorted(project_chars()))
    opts = subset.Options()
    opts.layout_features = ["*"]
    opts.name_IDs = ["*"]
    opts.notdef_outline = True
    opts.hinting = False
    font = subset.load_font(src, opts)
    sub = subset.Subsetter(opts)
    sub.populate(text=text)
    sub.subset(font)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    subset.save_font(font, str(OUT), opts)
    print(f"{OUT.relative_to(ROOT)}: {len(set(text))} characters, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(sys.argv[1])

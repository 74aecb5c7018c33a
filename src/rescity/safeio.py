"""Reading untrusted input files safely: sizes, decompression, encodings, YAML/JSON/TOML bombs.

Every reader of a user-supplied file goes through here, so that no file can exhaust memory, run
for minutes or crash the CLI with an internal error:

* only regular files are read (not ``/dev/zero``, FIFOs or directories), at most
  :data:`MAX_FILE_BYTES` on disk;
* gzip input (by its magic bytes) is decompressed in pieces and refused beyond
  :data:`MAX_DECOMPRESSED_BYTES` (a 400 KB "zip bomb" that would expand to 400 MB stops at the
  limit); a corrupt or truncated gzip stream is a clear error;
* text is decoded from UTF-8 (with or without BOM), UTF-16/UTF-32 (BOM, or the NUL pattern of
  UTF-16 without BOM) or GB 18030 (which includes GBK and GB 2312, the encodings Chinese
  spreadsheet software writes); anything else is refused with the encodings expected;
* YAML is parsed by a safe loader that bounds nesting depth (:data:`MAX_DEPTH`), the number of
  aliases (:data:`MAX_ALIASES`) and the size of the document with aliases expanded
  (:data:`MAX_NODES`), so "billion laughs" alias bombs fail at once;
* JSON and TOML nesting is bounded too; error messages quote at most :data:`EXCERPT` characters.

All failures raise :class:`rescity.errors.InputError` naming the file.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rescity.errors import InputError

#: Largest input file read, bytes on disk (override with ``RESCITY_MAX_FILE_MB``).
MAX_FILE_BYTES = int(float(os.environ.get("RESCITY_MAX_FILE_MB", 512)) * 2**20)
#: Largest decompressed size of a gzip file, bytes.
MAX_DECOMPRESSED_BYTES = int(float(os.environ.get("RESCITY_MAX_DECOMPRESSED_MB", 1024)) * 2**20)
#: Largest configuration file (scenario, rules), bytes.
MAX_CONFIG_BYTES = 4 * 2**20
#: Deepest nesting of YAML, JSON or TOML structures.
MAX_DEPTH = 64
#: Most aliases (``*name``) in one YAML document.
MAX_ALIASES = 256
#: Most nodes of a YAML document with every alias expanded.
MAX_NODES = 1_000_000
#: Longest excerpt of input quoted in an error message, characters.
EXCERPT = 80

GZIP_MAGIC = b"\x1f\x8b"


def excerpt(value: Any, n: int = EXCERPT) -> str:
    """``value`` as text, cut to ``n`` characters (with ``…`` when cut), control characters escaped."""
    s = value if isinstance(value, str) else repr(value)
    if len(s) > n:
        s = s[:n] + "…"
    return (
        s.encode("unicode_escape", "backslashreplace").decode("ascii", "replace")
        if not s.isprintable()
        else s
    )


def _regular(path: Path) -> os.stat_result:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror or type(e).__name__})", file=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a directory, not a file", file=path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError("is not a regular file (a device, pipe or socket); give a file", file=path)
    return st


def gunzip(raw: bytes, *, file: str | Path | None = None, max_bytes: int | None = None) -> bytes:
    """Decompress gzip bytes (all members), at most ``max_bytes`` of output."""
    most = MAX_DECOMPRESSED_BYTES if max_bytes is None else int(max_bytes)
    out = bytearray()
    data = raw
    try:
        while data:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while data:
                chunk = d.decompress(data, max(most + 1 - len(out), 1))
                out += chunk
                if len(out) > most:
                    raise InputError(
                        f"decompresses to more than {most // 2**20} MiB; refused (set RESCITY_MAX_DECOMPRESSED_MB "
                        "to allow more)",
                        file=file,
                    )
                data = d.unconsumed_tail
                if d.eof:
                    break
            if not d.eof:
                raise InputError("the gzip data is truncated (the file ends early)", file=file)
            data = d.unused_data
            if data and not data.startswith(GZIP_MAGIC):
                break  # trailing garbage after the last member, as gzip(1) tolerates
    except zlib.error as e:
        raise InputError(f"is not valid gzip data ({e})", file=file) from None
    return bytes(out)


def read_bytes(
    path: str | Path,
    *,
    max_bytes: int | None = None,
    decompress: bool = True,
    max_decompressed: int | None = None,
) -> bytes:
    """The bytes of a regular file, gunzipped when it starts with the gzip magic, within the limits."""
    p = Path(path)
    st = _regular(p)
    most = MAX_FILE_BYTES if max_bytes is None else int(max_bytes)
    if st.st_size > most:
        raise InputError(
            f"is {st.st_size / 2**20:.1f} MiB; files of at most {most / 2**20:.1f} MiB are read", file=p
        )
    try:
        with open(p, "rb") as fh:
            raw = fh.read(most + 1)
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror or type(e).__name__})", file=p) from None
    if len(raw) > most:
        raise InputError(f"is larger than {most / 2**20:.1f} MiB", file=p)
    if decompress and raw[:2] == GZIP_MAGIC:
        raw = gunzip(raw, file=p, max_bytes=max_decompressed)
    return raw


def _utf16_without_bom(raw: bytes) -> str | None:
    sample = raw[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0) / max(len(sample[0::2]), 1)
    odd = sample[1::2].count(0) / max(len(sample[1::2]), 1)
    if odd > 0.3 and even < 0.05:
        return "utf-16-le"
    if even > 0.3 and odd < 0.05:
        return "utf-16-be"
    return None


def decode(raw: bytes, *, file: str | Path | None = None) -> str:
    """Text of ``raw``: UTF-8 (BOM or not), UTF-16/32 (BOM, or UTF-16 by its NUL pattern), or GB 18030."""
    for bom, enc in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            try:
                return raw.decode(enc)
            except UnicodeDecodeError as e:
                raise InputError(
                    f"starts with a {enc.upper()} byte-order mark but is not {enc} ({e.reason})", file=file
                ) from None
    guess = _utf16_without_bom(raw)
    if guess:
        try:
            return raw.decode(guess)
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise InputError(
            "is neither UTF-8, UTF-16 nor GBK/GB 18030 text; save it as UTF-8", file=file
        ) from None
    if "\x00" in text:
        raise InputError("holds NUL characters: a binary file, not text", file=file)
    return text


def read_text(path: str | Path, *, max_bytes: int | None = None, max_decompressed: int | None = None) -> str:
    """Text of a (possibly gzipped) file in UTF-8, UTF-16/32 or GBK, within the size limits."""
    p = Path(path)
    text = decode(read_bytes(p, max_bytes=max_bytes, max_decompressed=max_decompressed), file=p)
    if "\x00" in text:
        raise InputError("holds NUL characters: a binary file, not text", file=p)
    return text


# -- structured text ------------------------------------------------------------------------
def _depth(obj: Any, limit: int) -> int:
    """Nesting depth of JSON-like data, stopping once past ``limit`` (iterative: no recursion)."""
    stack = [(obj, 1)]
    deepest = 0
    while stack:
        o, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > limit:
                return deepest
        if isinstance(o, Mapping):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend((v, d + 1) for v in o)
    return deepest


def load_json(text: str, *, file: str | Path | None = None) -> Any:
    """JSON with bounded nesting; ``NaN``/``Infinity`` literals refused."""

    def bad_constant(name: str):
        raise InputError(f"holds {name}, which is not JSON; give a number or null", file=file)

    try:
        data = json.loads(text, parse_constant=bad_constant)
    except RecursionError:
        raise InputError(f"is nested deeper than {MAX_DEPTH} levels", file=file) from None
    except json.JSONDecodeError as e:
        raise InputError(
            f"is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", file=file
        ) from None
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise InputError(f"is nested deeper than {MAX_DEPTH} levels", file=file)
    return data


def load_toml(text: str, *, file: str | Path | None = None) -> dict[str, Any]:
    """TOML with bounded nesting."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise InputError(f"is nested deeper than {MAX_DEPTH} levels", file=file) from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"is not valid TOML: {excerpt(str(e))}", file=file) from None
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise InputError(f"is nested deeper than {MAX_DEPTH} levels", file=file)
    return data


def _bounded_loader():
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """A safe loader that refuses deep nesting, many aliases and alias bombs while composing."""

        def __init__(self, stream) -> None:
            super().__init__(stream)
            self._depth = 0
            self._aliases = 0
            self._sizes: dict[int, int] = {}
            self._total = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    raise _Bomb(f"uses more than {MAX_ALIASES} aliases")
                anchor = self.peek_event().anchor
                node = self.anchors.get(anchor)
                if node is not None:
                    self._grow(self._sizes.get(id(node), 1))
                return super().compose_node(parent, index)
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Bomb(f"is nested deeper than {MAX_DEPTH} levels")
            before = self._total
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            self._grow(1)
            self._sizes[id(node)] = self._total - before
            return node

        def _grow(self, n: int) -> None:
            self._total += n
            if self._total > MAX_NODES:
                raise _Bomb(f"expands to more than {MAX_NODES} values (an alias bomb?)")

    return BoundedLoader


class _Bomb(Exception):
    pass


def load_yaml(text: str, *, file: str | Path | None = None) -> Any:
    """YAML by the safe loader with bounded depth, aliases and expanded size."""
    import yaml

    loader = None
    try:
        loader = _bounded_loader()(text)
        return loader.get_single_data()
    except _Bomb as e:
        raise InputError(str(e), file=file) from None
    except RecursionError:
        raise InputError(f"is nested deeper than {MAX_DEPTH} levels", file=file) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise InputError(f"is not valid YAML: {excerpt(problem)}{where}", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_csv_table(path: str | Path, *, max_bytes: int | None = None, **kw: Any):
    """A CSV file as a DataFrame (``pandas.read_csv`` keywords), read through :func:`read_text`.

    Empty files, malformed rows and header names repeated up to case are clear errors.
    """
    import io

    import pandas as pd

    p = Path(path)
    text = read_text(p, max_bytes=max_bytes)
    if not text.strip():
        raise InputError("is empty; expected a CSV table with a header row", file=p)
    try:
        df = pd.read_csv(io.StringIO(text), **kw)
    except pd.errors.EmptyDataError:
        raise InputError("has no columns; expected a CSV table with a header row", file=p) from None
    except (pd.errors.ParserError, ValueError) as e:
        raise InputError(
            f"is not a well-formed CSV table: {excerpt(' '.join(str(e).split()), 160)}", file=p
        ) from None
    seen: dict[str, str] = {}
    for c in df.columns:
        k = str(c).strip().casefold()
        if k in seen:
            raise InputError(
                f"names a column twice ({excerpt(seen[k])!r} and {excerpt(str(c))!r})",
                file=p,
                field=excerpt(str(c)),
            )
        seen[k] = str(c)
    return df


def load_config(path: str | Path, *, suffixes: tuple[str, ...] = (".yaml", ".yml", ".toml", ".json")) -> dict:
    """A configuration file (YAML, TOML or JSON by suffix) that must hold a mapping."""
    p = Path(path)
    suf = p.suffix.lower()
    if suf not in suffixes:
        raise InputError(f"must be one of {', '.join(suffixes)}", file=p, value=excerpt(suf))
    text = read_text(p, max_bytes=MAX_CONFIG_BYTES, max_decompressed=MAX_CONFIG_BYTES)
    if suf == ".toml":
        data: Any = load_toml(text, file=p)
    elif suf == ".json":
        data = load_json(text, file=p)
    else:
        data = load_yaml(text, file=p)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InputError(f"must hold a mapping (key: value), not a {type(data).__name__}", file=p)
    return dict(data)


__all__ = [
    "MAX_ALIASES",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "decode",
    "excerpt",
    "gunzip",
    "load_config",
    "load_json",
    "load_toml",
    "load_yaml",
    "read_bytes",
    "read_csv_table",
    "read_text",
]

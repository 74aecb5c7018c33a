"""Safe reading of untrusted files: sizes, decompression, encodings, YAML/JSON/TOML bombs."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from rescity import safeio
from rescity.errors import InputError


def test_the_369_byte_alias_bomb_fails_at_once(tmp_path):
    # the classic "billion laughs": 9 levels of 9 aliases = 9**9 strings from a few hundred bytes
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    lines.append("horizon_days: *i")
    text = "\n".join(lines)
    assert len(text.encode()) < 500
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    t0 = time.process_time()
    with pytest.raises(InputError) as e:
        safeio.load_config(p)
    assert time.process_time() - t0 < 2.0  # not a timing test of speed: a bound against a hang
    assert "alias" in str(e.value) and "\n" not in str(e.value) and len(str(e.value)) < 300


def test_deep_nesting_is_refused_in_every_format(tmp_path):
    for suf, text in ((".yaml", "a: " + "[" * 200 + "]" * 200), (".toml", "a = " + "[" * 5000 + "]" * 5000),
                      (".json", '{"a": ' + "[" * 100000 + "]" * 100000 + "}")):  # fmt: skip
        p = tmp_path / f"deep{suf}"
        p.write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match="nested deeper"):
            safeio.load_config(p)


def test_a_list_where_a_mapping_is_expected(tmp_path):
    p = tmp_path / "l.yaml"
    p.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(InputError, match="mapping"):
        safeio.load_config(p)


def test_devices_directories_and_oversize_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="not a regular file"):
        safeio.read_text("/dev/zero")
    with pytest.raises(InputError, match="directory"):
        safeio.read_text(tmp_path)
    p = tmp_path / "big.csv"
    p.write_bytes(b"x" * 2048)
    with pytest.raises(InputError, match="MiB"):
        safeio.read_text(p, max_bytes=1024)


def test_gzip_bombs_and_broken_gzip(tmp_path):
    bomb = gzip.compress(b"\0" * (20 * 2**20))  # 20 MiB of zeros in ~20 KB
    assert len(bomb) < 100_000
    p = tmp_path / "t.csv.gz"
    p.write_bytes(bomb)
    with pytest.raises(InputError, match="decompresses to more than 4 MiB"):
        safeio.read_bytes(p, max_decompressed=4 * 2**20)
    p.write_bytes(gzip.compress(b"time,lat\n" * 100)[:-12])
    with pytest.raises(InputError, match="truncated"):
        safeio.read_bytes(p)
    p.write_bytes(b"\x1f\x8b" + b"junk" * 10)
    with pytest.raises(InputError, match="gzip"):
        safeio.read_bytes(p)
    p.write_bytes(gzip.compress(b"a,b\n") + gzip.compress(b"1,2\n"))  # two members, as gzip(1) writes
    assert safeio.read_text(p) == "a,b\n1,2\n"


@pytest.mark.parametrize("enc", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "gbk", "gb18030"])
def test_chinese_text_in_the_encodings_users_have(tmp_path, enc):
    text = "region,metric,value\n浙江省,relocated,1079000\n临海市,affected_population,579000\n"
    p = tmp_path / "obs.csv"
    p.write_bytes(text.encode(enc))
    assert safeio.read_text(p) == text


def test_binary_and_undecodable_files(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"abc\xff\xff\xff\x80")
    with pytest.raises(InputError):
        safeio.read_text(p)
    p.write_bytes(b"a,b\n1,\x00\n")
    with pytest.raises(InputError, match="NUL"):
        safeio.read_text(p)


def test_csv_tables_empty_header_only_and_duplicate_columns(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        safeio.read_csv_table(p)
    p.write_text("Time,time\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="twice"):
        safeio.read_csv_table(p)
    p.write_text('a,b\n1,"2\n', encoding="utf-8")
    with pytest.raises(InputError, match="well-formed"):
        safeio.read_csv_table(p)


def test_json_refuses_non_standard_constants():
    with pytest.raises(InputError, match="Infinity"):
        safeio.load_json('{"x": Infinity}')
    assert safeio.load_json('{"x": [1, 2]}') == {"x": [1, 2]}


def test_error_messages_quote_a_short_excerpt():
    e = InputError("bad", file="f.yaml", field="crews", value=["lol"] * 10**6)
    assert len(str(e)) < 200
    assert len(safeio.excerpt("x" * 10_000)) <= safeio.EXCERPT + 1
    assert json.loads(json.dumps(safeio.excerpt("\x00abc")))  # control characters escaped


def test_pandapower_json_naming_other_modules_is_refused_before_loading(tmp_path):
    pp = pytest.importorskip("pandapower")
    pn = pytest.importorskip("pandapower.networks")
    from rescity.twin.pandapower_io import load_pandapower_json

    good = pp.to_json(pn.case9())
    p = tmp_path / "net.json"
    p.write_text(good, encoding="utf-8")
    assert len(load_pandapower_json(p).bus) == 9
    for module in ("this", "os", "subprocess", "builtins", "pandapowerx"):
        evil = good.replace('"_module": "pandapower.auxiliary"', f'"_module": "{module}"', 1)
        assert evil != good
        p.write_text(evil, encoding="utf-8")
        with pytest.raises(InputError, match="outside pandapower"):
            load_pandapower_json(p)
    p.write_text('{"_module": "this", "_class": "pandapowerNet", "_object": "{}"}', encoding="utf-8")
    with pytest.raises(InputError, match="outside pandapower"):
        load_pandapower_json(p)

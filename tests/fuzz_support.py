"""The input fuzz harness: strategies for every file reader and CLI entry point, and the judge.

Each *target* turns one generated input into a call of a reader or of the CLI; :func:`judge`
classifies what happened:

``ok``          success, or exit 2 / :class:`~rescity.errors.InputError` with one short line
``internal``    exit 1 ("internal error") or an exception other than InputError
``multiline``   exit 2 but a message of several lines or more than 600 characters
``hang``        still running after :data:`TIMEOUT_S` seconds
``memory``      MemoryError under the address-space cap of the suite

Run ``python tests/fuzz_support.py [examples-per-target]`` for the table of counts by target and
class (the numbers in the hardening notes); ``tests/test_fuzz_inputs.py`` asserts that every
class but ``ok`` stays empty.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import resource
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import strategies as st

TIMEOUT_S = 8.0
FAILURES = ("internal", "multiline", "hang", "memory")


class Timeout(BaseException):
    """Raised by the alarm when one input runs past :data:`TIMEOUT_S`."""


@contextlib.contextmanager
def alarm(seconds: float):
    def on_alarm(signum, frame):
        raise Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def memory_cap(extra_mib: int = 3072):
    """Cap the address space at the current size + ``extra_mib`` while fuzzing."""
    with open("/proc/self/statm") as fh:
        vm = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm + extra_mib * 2**20, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _one_line(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return len(lines) == 1 and len(lines[0]) <= 600


def judge_call(fn) -> tuple[str, str]:
    """Run a reader: ``(class, detail)``."""
    from rescity.errors import InputError

    try:
        with alarm(TIMEOUT_S):
            fn()
    except Timeout:
        return "hang", ""
    except MemoryError:
        return "memory", ""
    except InputError as e:
        return ("ok" if _one_line(str(e)) else "multiline"), str(e)[:200]
    except Exception as e:  # noqa: BLE001 - that is what we count
        return "internal", f"{type(e).__name__}: {str(e)[:200]}"
    return "ok", ""


def judge_cli(argv: list[str]) -> tuple[str, str]:
    """Run ``rescity ARGV`` in this process: ``(class, detail)``."""
    from rescity.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), alarm(TIMEOUT_S):
            try:
                main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Timeout:
        return "hang", " ".join(argv)
    except MemoryError:
        return "memory", " ".join(argv)
    except Exception as e:  # noqa: BLE001
        return "internal", f"{type(e).__name__}: {str(e)[:200]}"
    text = err.getvalue()
    if code == 0:
        return "ok", ""
    if code == 2:
        return ("ok" if _one_line(text) else "multiline"), text[:300]
    return "internal", text[:300]


# -- values and mutations ---------------------------------------------------------------------
ODD_NUMBERS = [
    "inf", "-inf", "Infinity", "nan", "NaN", "0", "-0", "-1000", "1e308", "-1e308", "1e18", "5e6",
    "", " ", "abc", "1,5", "0x10", "１２", "99999999999999999999999", "-1", "1040", "NULL",
]  # fmt: skip

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "gbk", "gb18030", "latin-1")


@st.composite
def mutated(draw, seed: bytes, text: bool = True):
    """Bytes derived from a valid ``seed``: cut, flipped, re-encoded, gzipped, emptied…"""
    op = draw(
        st.sampled_from(
            ["same", "truncate", "flip", "insert", "encode", "gzip", "badgzip", "empty", "header", "dup_header",
             "random", "nul"]
        )
    )  # fmt: skip
    b = seed
    if op == "truncate":
        b = b[: draw(st.integers(0, len(b)))]
    elif op == "flip" and b:
        arr = bytearray(b)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(arr) - 1))
            arr[i] = draw(st.integers(0, 255))
        b = bytes(arr)
    elif op == "insert":
        i = draw(st.integers(0, len(b)))
        b = b[:i] + draw(st.binary(min_size=1, max_size=40)) + b[i:]
    elif op == "encode" and text:
        enc = draw(st.sampled_from(ENCODINGS))
        b = seed.decode("utf-8").encode(enc, "replace")
    elif op == "gzip":
        b = gzip.compress(b)
    elif op == "badgzip":
        g = gzip.compress(b)
        b = g[: draw(st.integers(2, max(len(g) - 1, 2)))]
    elif op == "empty":
        b = b""
    elif op == "header":
        b = b.split(b"\n", 1)[0] + b"\n"
    elif op == "dup_header":
        first, _, rest = b.partition(b"\n")
        b = first + b"," + first.split(b",")[0].upper() + b"\n" + rest
    elif op == "random":
        b = draw(st.binary(max_size=300))
    elif op == "nul":
        b = b.replace(b",", b"\x00", 1)
    return b


@st.composite
def csv_cell(draw, seed: str):
    """The CSV ``seed`` with one cell replaced by an odd value."""
    lines = seed.strip().split("\n")
    r = draw(st.integers(1, len(lines) - 1))
    cells = lines[r].split(",")
    c = draw(st.integers(0, len(cells) - 1))
    cells[c] = draw(st.sampled_from(ODD_NUMBERS))
    lines[r] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


def nested(depth: int, kind: str) -> str:
    if kind == "yaml":
        return "a: " + "[" * depth + "]" * depth + "\n"
    if kind == "toml":
        return "a = " + "[" * depth + "]" * depth + "\n"
    return '{"a": ' + "[" * depth + "]" * depth + "}"


def alias_bomb(levels: int, key: str = "x", width: int = 9) -> str:
    """A "billion laughs" document: ``width ** levels`` strings by aliases, all under ``key``."""
    lines = [f"{key}:", '  - &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def yaml_value():
    leaf = st.one_of(
        st.integers(-(10**20), 10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=6),
        st.booleans(),
        st.none(),
    )
    return st.recursive(
        leaf,
        lambda ch: st.one_of(st.lists(ch, max_size=3), st.dictionaries(st.text(max_size=5), ch, max_size=3)),
        max_leaves=8,
    )


@st.composite
def config_text(draw, keys: list[str], kind: str = "yaml"):
    """A YAML/TOML configuration: random values of the known keys, bombs, deep nesting, lists."""
    op = draw(st.sampled_from(["values", "bomb", "deep", "list", "scalar", "random", "encode"]))
    if op == "bomb":
        if kind == "yaml":
            return alias_bomb(draw(st.integers(3, 9)), draw(st.sampled_from(keys))).encode()
        return nested(5000, kind).encode()
    if op == "deep":
        return nested(draw(st.integers(50, 5000)), kind).encode()
    if op == "list":
        return b"- a\n- b\n" if kind == "yaml" else b"a = [1, 2]\n[[b]]\n"
    if op == "scalar":
        return b"42\n" if kind == "yaml" else b"= 42\n"
    if op == "random":
        return draw(st.binary(max_size=200))
    d = {k: draw(yaml_value()) for k in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True))}
    if kind == "toml":
        lines = []
        for k, v in d.items():
            lines.append(
                f"{k} = {json.dumps(v) if not isinstance(v, float) else repr(v).replace('inf', 'inf')}"
            )
        text = "\n".join(lines) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(d, allow_unicode=True)
    if op == "encode":
        return text.encode(draw(st.sampled_from(ENCODINGS)), "replace")
    return text.encode()


# -- targets ------------------------------------------------------------------------------------
GENERIC_TRACK = """time,lat,lon,vmax_kn,pcen_hpa,rmax_nm,penv_hpa
2019-08-09T00:00Z,26.5,124.0,120,930,15,1008
2019-08-09T06:00Z,27.2,123.2,115,935,16,1008
2019-08-09T12:00Z,27.9,122.4,110,940,18,1008
2019-08-09T18:00Z,28.3,121.5,100,950,20,1008
2019-08-10T00:00Z,28.9,120.9,70,970,25,1008
"""

JTWC_TRACK = """Year,Month,Day,Hour,CY,Lat,Lon,VMax,MSLP,SN,Cat
2019,8,9,0,9,26.5,124.0,120,930,201910,TY
2019,8,9,6,9,27.2,123.2,115,935,201910,TY
2019,8,9,12,9,27.9,122.4,110,940,201910,TY
2019,8,9,18,9,28.3,121.5,100,950,201910,TY
2019,8,10,0,9,28.9,120.9,70,970,201910,TS
"""

SCENARIO_KEYS = [
    "horizon_days", "step_h", "policy", "crews", "assets_per_crew", "mutual_aid", "min_crews", "levels",
    "repair_times", "recovery",
]  # fmt: skip

RULE_KEYS = ["sources", "families", "rules", "thresholds"]

OBS = "region,metric,value\n浙江省,relocated,1079000\n临海市,affected_population,579000\n"


def _pred_csv() -> str:
    rows = ["issued,lead_h,unit_id,level,indicator,mean,p05,p95,warning,name_zh,name_en,population"]
    for issued in ("2019-08-09T06:00Z", "2019-08-09T12:00Z"):
        for lead in (24, 48):
            rows.append(
                f"{issued},{lead},330000,province,relocate,900000,400000,1300000,2,浙江省,Zhejiang,64567588"
            )
            rows.append(
                f"{issued},{lead},331082,county,affected,400000,200000,600000,1,临海市,Linhai,1114146"
            )
    return "\n".join(rows) + "\n"


PRED = _pred_csv()


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def _pandapower_seed() -> bytes:
    import pandapower as pp
    import pandapower.networks as pn

    return pp.to_json(pn.case9()).encode()


def _epanet_seed() -> bytes:
    import wntr

    return (Path(wntr.__file__).parent / "library" / "networks" / "Net1.inp").read_bytes()


def _twin_dir(tmp: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from rescity.twin.io import save
    from twin_support import tiny

    d = tmp / "twin"
    if not d.exists():
        save(tiny(), d)
    return d


def targets() -> dict[str, tuple]:
    """``name -> (strategy, run(tmp, example) -> (class, detail))``."""
    from rescity.engine.recovery import load_repair_times, load_scenario
    from rescity.sense.rules import load_rules

    def track(tmp, ex):
        data, fmt, name = ex
        p = _write(tmp, name, data)
        return judge_cli(["wind", "--track", str(p), "--format", fmt, "--at", "28.6,121.4"])

    track_st = st.tuples(
        st.one_of(
            mutated(GENERIC_TRACK.encode()),
            csv_cell(GENERIC_TRACK),
            mutated(JTWC_TRACK.encode()),
            csv_cell(JTWC_TRACK),
            st.just(b"Time,time,lat,lon,vmax_kn\n2019-08-09T00:00Z,x,26,124,100\n"),
        ),
        st.sampled_from(["auto", "generic", "jtwc", "cma", "ibtracs"]),
        st.sampled_from(["t.csv", "t.csv.gz", "t.txt"]),
    )

    def scenario(tmp, ex):
        data, suf = ex
        p = _write(tmp, f"s{suf}", data)
        return judge_call(lambda: load_scenario(p))

    scen_st = st.one_of(
        st.tuples(config_text(SCENARIO_KEYS, "yaml"), st.just(".yaml")),
        st.tuples(config_text(SCENARIO_KEYS, "toml"), st.just(".toml")),
        st.tuples(st.sampled_from([b"repair_times: /dev/zero\n", b"horizon_days: 100000\n",
                                   b"crews: {default: {power: 1000000000000000000}}\n", b"", b"\xef\xbb\xbf"]),
                  st.just(".yaml")),
    )  # fmt: skip

    def repair(tmp, ex):
        if ex == b"<dev-zero>":
            return judge_call(lambda: load_repair_times("/dev/zero"))
        if ex == b"<dir>":
            return judge_call(lambda: load_repair_times(tmp))
        p = _write(tmp, "rt.csv", ex)
        return judge_call(lambda: load_repair_times(p))

    from rescity.engine.recovery import REPAIR_TIMES_FILE

    rt = Path(REPAIR_TIMES_FILE).read_text(encoding="utf-8")
    rt_small = "\n".join(rt.splitlines()[:9]) + "\n"
    repair_st = st.one_of(
        mutated(rt_small.encode()), csv_cell(rt_small), st.sampled_from([b"<dev-zero>", b"<dir>"])
    )

    def rules(tmp, ex):
        p = _write(tmp, "rules.yaml", ex)
        return judge_call(lambda: load_rules(p))

    def verify(tmp, ex):
        pred, obs, issued, landfall = ex
        pp_ = _write(tmp, "pred.csv", pred)
        po = _write(tmp, "obs.csv", obs)
        argv = ["verify", "--pred", str(pp_), "--obs", str(po)]
        if issued is not None:
            argv += ["--issued", issued]
        if landfall is not None:
            argv += ["--landfall", landfall]
        return judge_cli(argv)

    times = st.one_of(st.none(), st.sampled_from(["2019-08-09T06:00Z", "yesterday", "2019-13-45", "", "9" * 30]),
                      st.text(max_size=12))  # fmt: skip
    verify_st = st.tuples(
        st.one_of(mutated(PRED.encode()), csv_cell(PRED), st.just(PRED.split("\n")[0].encode() + b"\n"),
                  st.just(PRED.replace("900000", "nan").encode())),
        st.one_of(mutated(OBS.encode()), csv_cell(OBS), st.just(OBS.replace("1079000", "inf").encode())),
        times,
        times,
    )  # fmt: skip

    def pandapower(tmp, ex):
        p = _write(tmp, "net.json", ex)
        return judge_cli(["network", "import", "--pandapower", str(p), "--out", str(tmp / "out")])

    pp_seed = _pandapower_seed()
    pp_st = st.one_of(
        mutated(pp_seed),
        st.sampled_from(["this", "os", "subprocess", "builtins", "pandapower.auxiliary"]).map(
            lambda m: pp_seed.replace(b'"_module": "pandapower.auxiliary"', f'"_module": "{m}"'.encode(), 1)
        ),
        st.just(b'{"_module": "this", "_class": "x", "_object": "{}"}'),
        st.just(b"[]"),
        st.just(nested(100000, "json").encode()),
    )

    def epanet(tmp, ex):
        data, origin, crs = ex
        p = _write(tmp, "net.inp", data)
        argv = ["network", "import", "--epanet", str(p), "--out", str(tmp / "out")]
        if origin is not None:
            argv += ["--origin", origin]
        if crs is not None:
            argv += ["--crs", crs]
        return judge_cli(argv)

    ep_seed = _epanet_seed()
    ep_st = st.tuples(
        st.one_of(mutated(ep_seed), st.just(ep_seed.replace(b" 11 ", b" 10 ", 1))),
        st.one_of(st.none(), st.sampled_from(["nan,nan", "120.1,28.5", "inf,0", "x", "200,95"])),
        st.one_of(st.none(), st.sampled_from(["EPSG:4326", "EPSG:99999999", "nonsense", "EPSG:32651"])),
    )

    def twin(tmp, ex):
        which, data = ex
        d = _twin_dir(tmp)
        import shutil

        work = tmp / "tw"
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(d, work)
        files = sorted(f.name for f in work.iterdir())
        name = files[which % len(files)]
        (work / name).write_bytes(data)
        return judge_cli(["twin", "validate", str(work)])

    twin_st = st.tuples(
        st.integers(0, 20),
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from([b"[]", b'{"format_version": 99}', b"{}", nested(5000, "json").encode()]),
        ),
    )

    return {
        "track files (wind --track)": (track_st, track),
        "recovery scenario files": (scen_st, scenario),
        "repair-time tables": (repair_st, repair),
        "sensing rule files": (
            st.one_of(config_text(RULE_KEYS, "yaml"), mutated(b"sources: {}\nfamilies: {}\n")),
            rules,
        ),
        "verify (pred, obs, --issued, --landfall)": (verify_st, verify),
        "pandapower JSON (network import)": (pp_st, pandapower),
        "EPANET .inp, --origin, --crs (network import)": (ep_st, epanet),
        "twin folders (twin validate)": (twin_st, twin),
    }


def _run_target(tmp: Path, n: int, seed: int, strategy, run) -> tuple[Counter, list[str]]:
    import random

    from hypothesis import HealthCheck, given, settings

    c: Counter = Counter()
    bad: list[str] = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def one(ex):
        cls, detail = run(tmp, ex)
        c[cls] += 1
        if cls != "ok" and len(bad) < 3:
            bad.append(f"{cls}: {detail[:160]}")

    random.seed(seed)
    one()
    return c, bad


def run_all(n: int, seed: int = 13) -> dict[str, Counter]:
    """Draw ``n`` examples per target (reproducibly) and count the classes."""
    counts: dict[str, Counter] = {}
    examples: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as t, memory_cap():
        tmp = Path(t)
        for name, (strategy, run) in targets().items():
            counts[name], examples[name] = _run_target(tmp, n, seed, strategy, run)
    run_all.examples = examples  # type: ignore[attr-defined]
    return counts


def table(counts: dict[str, Counter]) -> str:
    cols = ["ok", *FAILURES]
    lines = [f"| target | tried | {' | '.join(cols)} |", "|---|---:|" + "---:|" * len(cols)]
    tot = Counter()
    for name, c in counts.items():
        tot.update(c)
        lines.append(f"| {name} | {sum(c.values())} | " + " | ".join(str(c.get(k, 0)) for k in cols) + " |")
    lines.append(f"| all | {sum(tot.values())} | " + " | ".join(str(tot.get(k, 0)) for k in cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import logging

    logging.disable(logging.CRITICAL)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    res = run_all(n)
    print(table(res))
    for name, bad in run_all.examples.items():  # type: ignore[attr-defined]
        for b in bad:
            print(f"  {name}: {b}")

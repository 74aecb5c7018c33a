"""Typhoon wind field: rescity against CLIMADA's ``TropCyclone.from_tracks`` at the same sites.

    python benchmarks/peers/bench_peer_climada.py [--sites 40000] [--pairs 5] [--cutoff-km 300,1000]

Needs CLIMADA (see docs/performance.md, "Peer comparisons"); prints a "skipped" line and exits
0 without it. Nothing is downloaded: CLIMADA gets its centroids from arrays and
``ignore_distance_to_coast=True`` (the distance to the coast would need Natural Earth files).

The same inputs on both sides:

* ``--sites`` random sites over Zhejiang (lon 118–123, lat 27–31.2; the sites of
  ``benchmarks/bench_hazard_wind.py``);
* the packaged CMA best track of Lekima (1909), resampled hourly by rescity
  (``interpolate_track``); CLIMADA gets those hourly fixes as a ``TCTracks`` with
  ``time_step`` 1 h, the same 1-min wind, central and environmental pressure, and the radius of
  maximum wind rescity uses (Vickery & Wadhera 2008, the CMA track has none);
* the same distance cut-off from the eye (CLIMADA ``max_dist_eye_km``, rescity ``cutoff_km``),
  for each value of ``--cutoff-km`` (300 km is CLIMADA's default, 1000 km rescity's);
* both fields are the peak 1-min 10-m wind over the storm at open-water exposure (rescity with
  ``land=False``: CLIMADA applies no surface roughness).

The models differ, so the fields are compared, not asserted equal: rescity ``holland1980``
against CLIMADA ``H1980`` and rescity ``holland2008`` against CLIMADA ``H08`` (Holland 1980
with the Holland 2008 ``B``). Differences worth knowing: CLIMADA lowers gradient to surface wind
by 0.9 (rescity 0.8 in ``holland1980``), adds the translation speed with another weight, and
has no inflow angle; rescity's ``holland2008`` is the full Holland 2008 surface profile. The
table reports, over sites where either field reaches gale force (17.5 m/s, CLIMADA's
threshold), the mean and RMS of rescity − CLIMADA, the correlation and both maxima.

Timing: the two run alternately (CLIMADA, rescity, …), each in a fresh interpreter. "whole
process" is the child's wall time from start to exit (imports, reading the sites and the
track, the field, writing it); "field (first call)" is the wind-field call alone
(``from_tracks``, or ``peak_wind``, which includes rescity's track resampling), the first in
the process; then the child calls it ``--warm`` more times (their best is "field (best of …)",
and their time is taken off the whole process).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import (  # noqa: E402
    alternate,
    child_result,
    machine_line,
    ratio_table,
    run_child,
    skip_if_missing,
)

HERE = Path(__file__).resolve()
SN = "201910"  # Lekima
GALE_MS = 17.5
#: rescity model → the CLIMADA model compared with it.
MODELS = {"holland1980": "H1980", "holland2008": "H08"}
KN_TO_MS = 0.514444
NM_TO_KM = 1.852


# ---------------------------------------------------------------------------------------------
# inputs (made once by the parent, with rescity)
# ---------------------------------------------------------------------------------------------
def make_inputs(folder: Path, n: int, seed: int) -> dict[str, str]:
    """Sites (.npy) and the hourly track with rescity's Rmax (CSV, for CLIMADA)."""
    from rescity.hazard.track import interpolate_track, packaged_track
    from rescity.hazard.typhoon import storm_parameters

    rng = np.random.default_rng(seed)
    sites = np.column_stack([rng.uniform(118.0, 123.0, n), rng.uniform(27.0, 31.2, n)])
    np.save(folder / "sites.npy", sites)
    ti = interpolate_track(packaged_track(SN), 1.0)
    sp = storm_parameters(ti)
    track = {
        "time": ti["time"].dt.tz_convert(None).dt.strftime("%Y-%m-%dT%H:%M:%S").tolist(),
        "lat": ti["lat"].tolist(),
        "lon": ti["lon"].tolist(),
        "vmax_kn": (ti["vmax_ms"] / KN_TO_MS).tolist(),
        "pcen_hpa": ti["pcen_hpa"].tolist(),
        "penv_hpa": ti["penv_hpa"].tolist(),
        "rmax_nm": (sp["rmax_km"] / NM_TO_KM).tolist(),
    }
    (folder / "track.json").write_text(json.dumps(track))
    return {"sites": str(folder / "sites.npy"), "track": str(folder / "track.json"), "fixes": str(len(ti))}


# ---------------------------------------------------------------------------------------------
# the two sides (children)
# ---------------------------------------------------------------------------------------------
def run_climada(inp: dict[str, str], model: str, cutoff_km: float, out: Path, warm: int = 0) -> dict:
    import logging

    import pandas as pd
    import xarray as xr
    from climada.hazard import Centroids, TCTracks, TropCyclone

    logging.getLogger("climada").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    sites = np.load(inp["sites"])
    tr = json.loads(Path(inp["track"]).read_text())
    n = len(tr["time"])
    ds = xr.Dataset(
        {
            "time_step": ("time", np.ones(n)),
            "radius_max_wind": ("time", np.asarray(tr["rmax_nm"])),
            "radius_oci": ("time", np.zeros(n)),
            "max_sustained_wind": ("time", np.asarray(tr["vmax_kn"])),
            "central_pressure": ("time", np.asarray(tr["pcen_hpa"])),
            "environmental_pressure": ("time", np.asarray(tr["penv_hpa"])),
            "basin": ("time", np.full(n, "WP")),
        },
        coords={
            "time": pd.to_datetime(tr["time"]).to_numpy(),
            "lat": ("time", np.asarray(tr["lat"])),
            "lon": ("time", np.asarray(tr["lon"])),
        },
        attrs={
            "max_sustained_wind_unit": "kn",
            "central_pressure_unit": "mb",
            "name": "LEKIMA",
            "sid": "2019LEKIMA",
            "orig_event_flag": True,
            "data_provider": "CMA best track, resampled hourly",
            "id_no": 2019010.0,
            "category": 4,
        },
    )
    tracks = TCTracks([ds])
    cen = Centroids(lat=sites[:, 1], lon=sites[:, 0])

    def field() -> np.ndarray:
        haz = TropCyclone.from_tracks(
            tracks, cen, model=model, ignore_distance_to_coast=True, max_dist_eye_km=cutoff_km
        )
        return np.asarray(haz.intensity.toarray()).ravel()

    return _timed(field, t0, out / f"climada_{model}_{cutoff_km:g}.npy", warm)


def run_rescity(inp: dict[str, str], model: str, cutoff_km: float, out: Path, warm: int = 0) -> dict:
    from rescity.hazard.track import packaged_track
    from rescity.hazard.typhoon import peak_wind

    t0 = time.perf_counter()
    sites = np.load(inp["sites"])
    tr = packaged_track(SN)

    def field() -> np.ndarray:
        return peak_wind(tr, sites[:, 0], sites[:, 1], model, land=False, cutoff_km=cutoff_km)["wind_ms"]

    return _timed(field, t0, out / f"rescity_{model}_{cutoff_km:g}.npy", warm)


def _timed(field: Callable[[], np.ndarray], t0: float, path: Path, warm: int) -> dict:
    """Time the first call (then save the field), and ``warm`` more calls apart."""
    t1 = time.perf_counter()
    wind = field()
    t2 = time.perf_counter()
    np.save(path, wind)
    inner = time.perf_counter() - t0
    t3 = time.perf_counter()
    again = []
    for _ in range(warm):
        t = time.perf_counter()
        field()
        again.append(time.perf_counter() - t)
    return {
        "analysis": t2 - t1,
        "warm": min(again) if again else float("nan"),
        "extra": time.perf_counter() - t3,
        "process_inner": inner,
        "field": str(path),
    }


def child(side: str, inputs: str, model: str, cutoff_km: float, out: str, warm: int) -> None:
    inp = json.loads(Path(inputs).read_text())
    if side == "climada":
        child_result(run_climada(inp, MODELS[model], cutoff_km, Path(out), warm))
    else:
        child_result(run_rescity(inp, model, cutoff_km, Path(out), warm))


# ---------------------------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------------------------
def compare(rc: np.ndarray, cl: np.ndarray) -> dict[str, float]:
    """rescity − CLIMADA over the sites where either reaches gale force."""
    m = (rc >= GALE_MS) | (cl >= GALE_MS)
    d = rc[m] - cl[m]
    both = m & (rc >= GALE_MS) & (cl >= GALE_MS)
    return {
        "gale_either": int(m.sum()),
        "gale_rescity": int((rc >= GALE_MS).sum()),
        "gale_climada": int((cl >= GALE_MS).sum()),
        "bias": float(d.mean()) if d.size else float("nan"),
        "rms": float(np.sqrt((d**2).mean())) if d.size else float("nan"),
        "corr": float(np.corrcoef(rc[both], cl[both])[0, 1]) if both.sum() > 2 else float("nan"),
        "max_rescity": float(rc.max()),
        "max_climada": float(cl.max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=40_000)
    ap.add_argument("--pairs", type=int, default=5, help="alternating (CLIMADA, rescity) pairs per case")
    ap.add_argument("--cutoff-km", default="300,1000", help="distance(s) from the eye, comma-separated")
    ap.add_argument("--models", default="holland1980,holland2008", help="rescity model(s), comma-separated")
    ap.add_argument("--seed", type=int, default=20190809)
    ap.add_argument("--warm", type=int, default=2, help="extra field calls per process, timed apart")
    ap.add_argument("--child", choices=("climada", "rescity"), help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--cutoff", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.inputs, a.model, a.cutoff, a.out, a.warm)
        return

    skip_if_missing("climada", "climada", "rescity")
    from importlib.metadata import version

    cutoffs = [float(x) for x in a.cutoff_km.split(",")]
    models = [m.strip() for m in a.models.split(",")]
    for m in models:
        if m not in MODELS:
            sys.exit(f"unknown model {m!r}; use {', '.join(MODELS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="peer-climada-") as tmp:
        folder = Path(tmp)
        inputs = folder / "inputs.json"
        meta = make_inputs(folder, a.sites, a.seed)
        inputs.write_text(json.dumps(meta))
        for model in models:
            for cutoff in cutoffs:
                args = ["--inputs", str(inputs), "--model", model, "--cutoff", str(cutoff)]
                args += ["--out", tmp, "--warm", str(a.warm)]
                print(f"rescity {model} vs CLIMADA {MODELS[model]}, cut-off {cutoff:g} km")
                fields: dict[str, str] = {}

                def side(
                    name: str, args: list[str] = args, fields: dict[str, str] = fields
                ) -> dict[str, float]:
                    wall, r = run_child(HERE, ["--child", name, *args])
                    fields[name] = r["field"]
                    return {"process": wall - r["extra"], "analysis": r["analysis"], "warm": r["warm"]}

                runs = alternate(
                    {"CLIMADA": lambda: side("climada"), "rescity": lambda: side("rescity")}, a.pairs
                )
                diff = compare(np.load(fields["rescity"]), np.load(fields["climada"]))
                results.append((model, cutoff, runs, diff))

    print()
    print(f"machine: {machine_line({'climada': version('climada')})}")
    print(
        f"{a.sites:,} sites, Lekima (CMA {SN}) {meta['fixes']} hourly fixes; "
        f"{a.pairs} alternating pairs per case (CLIMADA, rescity, …), each a fresh process"
    )
    for model, cutoff, runs, _ in results:
        print()
        print(f"**rescity `{model}` vs CLIMADA `{MODELS[model]}`, cut-off {cutoff:g} km**")
        print()
        metrics = {"process": "whole process", "analysis": "field (first call)"}
        if a.warm:
            metrics["warm"] = f"field (later calls, best of {a.warm})"
        print(ratio_table(runs, "CLIMADA", "rescity", metrics))
    print()
    print("Fields (peak 1-min 10-m wind, open water; over sites where either ≥ 17.5 m/s):")
    print()
    print(
        "| rescity vs CLIMADA | cut-off km | sites ≥ 17.5 (rescity / CLIMADA) | mean Δ m/s "
        "| RMS Δ m/s | correlation | max rescity / CLIMADA m/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for model, cutoff, _, d in results:
        print(
            f"| {model} vs {MODELS[model]} | {cutoff:g} | {d['gale_rescity']:,} / {d['gale_climada']:,} "
            f"| {d['bias']:+.2f} | {d['rms']:.2f} | {d['corr']:.3f} "
            f"| {d['max_rescity']:.1f} / {d['max_climada']:.1f} |"
        )


if __name__ == "__main__":
    main()

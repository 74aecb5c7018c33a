"""Building damage: rescity against pyincore's ``BuildingDamage`` on the same buildings.

    python benchmarks/peers/bench_peer_pyincore.py [--buildings 15000] [--pairs 5]

Needs pyincore (see docs/performance.md, "Peer comparisons"); prints a "skipped" line and exits
0 without it. pyincore runs wholly offline: ``IncoreClient(offline=True)``, the inventory as a
local shapefile, the fragility curves as local ``FragilityCurveSet`` JSON and a local
earthquake whose PGA is a local GeoTIFF; no IN-CORE web service is reached.

The same inputs on both sides:

* ``--buildings`` housing buildings at random points over Hangzhou (lon 119.6–120.8, lat
  29.7–30.7), each of one of rescity's four housing classes with an earthquake curve
  (rc_frame, brick_concrete, rural_masonry, steel_light);
* the fragility curves are rescity's packaged HAZUS-MH MR4 building curves for those classes
  (``curves_earthquake.csv``, lognormal in PGA, β = 0.64). IN-CORE building fragilities have
  three limit states (moderate, extensive, complete) so pyincore gets rescity's ds 2–4 as
  LS_0–LS_2; rescity evaluates all four states;
* PGA: the BSSA14 median of an Mw 6.8 strike-slip event at (120.1 E, 30.2 N), on a
  30-arc-second grid (the ShakeMap grid spacing) written as a GeoTIFF; both sides take the
  value of the pixel a building lies in.

Before timing, one run of each is checked: every building's P[DS ≥ moderate/extensive/
complete] and damage-state probabilities agree within ``--tol``. Then the two run alternately
(pyincore, rescity, …), each in a fresh interpreter: "whole process" is the child's wall time
from start to exit; "files → CSV" is the same work inside the process after the imports
(pyincore: ``run_analysis()``, which reads the inventory and the raster, evaluates the curves
and writes its CSV; rescity: reading the shapefile and the raster, mapping curves, evaluating
them and writing the same CSV). On both sides the curve definitions are read before that
(pyincore's JSON files, rescity's packaged library). ``num_cpu`` is 1 for pyincore, as rescity is one process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
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
#: rescity's housing classes that carry an earthquake curve, and their shares in the sample.
CLASSES = {"rc_frame": 0.35, "brick_concrete": 0.35, "rural_masonry": 0.2, "steel_light": 0.1}
#: Storeys per class (pyincore reads ``no_stories`` of every building for earthquakes).
STOREYS = {"rc_frame": 6, "brick_concrete": 4, "rural_masonry": 2, "steel_light": 1}
BBOX = (119.6, 29.7, 120.8, 30.7)  # lon_min, lat_min, lon_max, lat_max
PIXEL_DEG = 1.0 / 120.0  # 30 arc-seconds
LS_COLS = ("LS_0", "LS_1", "LS_2")
DS_COLS = ("DS_0", "DS_1", "DS_2", "DS_3")


# ---------------------------------------------------------------------------------------------
# inputs (made once by the parent, with rescity)
# ---------------------------------------------------------------------------------------------
def make_inputs(folder: Path, n: int, seed: int) -> dict[str, str]:
    """Write the buildings (shapefile), the PGA raster (GeoTIFF) and pyincore's curve JSON."""
    import geopandas as gpd
    import pandas as pd
    import rasterio
    from rasterio.transform import from_origin

    from rescity.fragility.library import assign, load_library
    from rescity.hazard.earthquake import EarthquakeSource, ground_motion

    rng = np.random.default_rng(seed)
    lon0, lat0, lon1, lat1 = BBOX
    nx, ny = round((lon1 - lon0) / PIXEL_DEG), round((lat1 - lat0) / PIXEL_DEG)
    gx = lon0 + (np.arange(nx) + 0.5) * PIXEL_DEG
    gy = lat1 - (np.arange(ny) + 0.5) * PIXEL_DEG
    glon, glat = np.meshgrid(gx, gy)
    src = EarthquakeSource(lon=120.1, lat=30.2, depth_km=10.0, mw=6.8, strike=45.0, mechanism="strike-slip")
    pga = ground_motion(src, glon.ravel(), glat.ravel(), vs30=400.0)["pga_g"].reshape(ny, nx)
    tif = folder / "pga.tif"
    with rasterio.open(
        tif,
        "w",
        driver="GTiff",
        height=ny,
        width=nx,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(lon0, lat1, PIXEL_DEG, PIXEL_DEG),
    ) as ds:
        ds.write(pga.astype(np.float32), 1)

    # keep points off pixel edges so that both sides' floor() picks the same pixel
    ix = rng.integers(0, nx, n)
    iy = rng.integers(0, ny, n)
    lon = lon0 + (ix + rng.uniform(0.05, 0.95, n)) * PIXEL_DEG
    lat = lat1 - (iy + rng.uniform(0.05, 0.95, n)) * PIXEL_DEG
    cls = rng.choice(list(CLASSES), size=n, p=list(CLASSES.values()))
    b = gpd.GeoDataFrame(
        {
            "guid": [f"b{i:07d}" for i in range(n)],
            "struct_typ": cls,
            "no_stories": pd.Series(cls).map(STOREYS).to_numpy(np.int32),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    shp = folder / "buildings.shp"
    b.to_file(shp)

    lib = load_library()
    probe = pd.DataFrame({"system": "building", "kind": "housing", "fragility_class": list(CLASSES)})
    cs = assign(lib, probe, ["earthquake"])
    curves = {}
    for k, name in enumerate(CLASSES):
        code = int(cs.codes["earthquake"][k])
        c = lib.compiled[cs.curve_ids[code]]
        assert c.kind == "lognormal" and c.measure == "pga_g", c
        js = folder / f"fragility_{name}.json"
        js.write_text(json.dumps(pyincore_fragility(name, c.curve_id, c.median[1:], c.beta[1:])))
        curves[name] = str(js)
    return {"shp": str(shp), "tif": str(tif), "curves": json.dumps(curves)}


def pyincore_fragility(name: str, curve_id: str, medians: np.ndarray, betas: np.ndarray) -> dict:
    """A pyincore ``FragilityCurveSet`` (JSON form) with LS_0–LS_2 = moderate, extensive, complete."""
    labels = ("Moderate", "Extensive", "Complete")
    return {
        "id": curve_id,
        "description": f"{name}: {curve_id} from rescity's packaged library",
        "authors": ["FEMA (2003) HAZUS-MH MR4 Technical Manual"],
        "hazardType": "earthquake",
        "inventoryType": "building",
        "resultType": "Limit State",
        "demandTypes": ["PGA"],
        "demandUnits": ["g"],
        "curveParameters": [
            {"name": "PGA", "unit": "g", "description": "PGA", "fullName": "PGA", "expression": None}
        ],
        "fragilityCurves": [
            {
                "description": f"lognormal - {lab}",
                "returnType": {"type": "Limit State", "unit": "", "description": f"LS_{k}"},
                "curveParameters": None,
                "rules": [
                    {
                        "condition": ["PGA > 0"],
                        "expression": f"scipy.stats.norm.cdf((math.log(PGA) - math.log({m!r}))/({b!r}))",
                    }
                ],
            }
            for k, (lab, m, b) in enumerate(zip(labels, medians.tolist(), betas.tolist(), strict=True))
        ],
    }


# ---------------------------------------------------------------------------------------------
# the two sides (children)
# ---------------------------------------------------------------------------------------------
def run_pyincore(inp: dict[str, str], out: Path) -> dict:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # pyincore prints banners
        from pyincore import Dataset, FragilityCurveSet, IncoreClient, Mapping, MappingSet
        from pyincore.analyses.buildingdamage import BuildingDamage
        from pyincore.models.hazard.earthquake import Earthquake

        t0 = time.perf_counter()
        client = IncoreClient(offline=True)
        buildings = Dataset.from_file(inp["shp"], data_type="ergo:buildingInventoryVer7")
        eq = Earthquake(
            {
                "name": "Mw 6.8 near Hangzhou (BSSA14 median)",
                "eqType": "dataset",
                "hazardDatasets": [{"hazardType": "deterministic", "demandType": "PGA", "demandUnits": "g"}],
            }
        )
        eq.hazardDatasets[0].from_file(inp["tif"], data_type="ergo:probabilisticEarthquakeRaster")
        key = "Non-Retrofit Fragility ID Code"
        mappings = [
            Mapping({key: FragilityCurveSet.from_json_file(path)}, {"AND": [f"str struct_typ EQUALS {name}"]})
            for name, path in json.loads(inp["curves"]).items()
        ]
        mset = MappingSet(
            {
                "id": "local",
                "name": "rescity housing classes",
                "hazardType": "earthquake",
                "inventoryType": "building",
                "mappingEntryKeys": [{"name": key, "defaultKey": True}],
                "mappings": mappings,
                "mappingType": "fragility",
            }
        )
        bd = BuildingDamage(client)
        ok = bd.set_input_dataset("buildings", buildings)
        ok &= bd.set_input_dataset("dfr3_mapping_set", mset)
        ok &= bd.set_input_hazard("hazard", eq)
        bd.set_parameter("result_name", str(out / "pyincore_bldg_dmg"))
        bd.set_parameter("num_cpu", 1)
        if not ok:
            raise RuntimeError("pyincore refused an input")
        t1 = time.perf_counter()
        bd.run_analysis()
        t2 = time.perf_counter()
    return {"setup": t1 - t0, "analysis": t2 - t1, "csv": str(out / "pyincore_bldg_dmg.csv")}


def run_rescity(inp: dict[str, str], out: Path) -> dict:
    import geopandas as gpd
    import pandas as pd
    import rasterio
    from rasterio.transform import rowcol

    from rescity.fragility.library import assign, exceedance, load_library

    lib = load_library()  # the curve definitions, as pyincore's JSON is read before its analysis
    t0 = time.perf_counter()
    b = gpd.read_file(inp["shp"])
    with rasterio.open(inp["tif"]) as ds:
        band = ds.read(1).astype(np.float64)
        r, c = rowcol(ds.transform, b.geometry.x.to_numpy(), b.geometry.y.to_numpy())
    pga = band[np.asarray(r), np.asarray(c)]
    t1 = time.perf_counter()
    assets = pd.DataFrame({"system": "building", "kind": "housing", "fragility_class": b["struct_typ"]})
    cs = assign(lib, assets, ["earthquake"])
    p = exceedance(cs, {"pga_g": pga}, "earthquake")  # P[DS ≥ ds], ds = 1…4
    t2 = time.perf_counter()
    ls = p[:, 1:]  # moderate, extensive, complete
    ds_p = np.column_stack([1.0 - ls[:, 0], ls[:, 0] - ls[:, 1], ls[:, 1] - ls[:, 2], ls[:, 2]])
    table = pd.DataFrame(np.column_stack([ls, ds_p]), columns=[*LS_COLS, *DS_COLS])
    table.insert(0, "guid", b["guid"].to_numpy())
    csv = out / "rescity_bldg_dmg.csv"
    table.to_csv(csv, index=False, float_format="%.12g")
    t3 = time.perf_counter()
    return {"analysis": t3 - t0, "kernel": t2 - t1, "csv": str(csv)}


def child(side: str, inputs: str, out: str) -> None:
    inp = json.loads(Path(inputs).read_text())
    fn = run_pyincore if side == "pyincore" else run_rescity
    child_result(fn(inp, Path(out)))


# ---------------------------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------------------------
def check_agreement(py_csv: str, rc_csv: str, tol: float) -> str:
    import pandas as pd

    a = pd.read_csv(py_csv).set_index("guid").sort_index()
    b = pd.read_csv(rc_csv).set_index("guid").sort_index()
    if list(a.index) != list(b.index):
        sys.exit("pyincore and rescity results hold different buildings")
    cols = [*LS_COLS, *DS_COLS]
    d = (a[cols] - b[cols]).abs().to_numpy()
    worst = float(d.max())
    mean_ds = b[list(DS_COLS)].mean().to_numpy()
    msg = (
        f"agreement on {len(a):,} buildings: max |Δ| over {', '.join(cols)} = {worst:.2e} "
        f"(tolerance {tol:g}); mean DS_0–DS_3 = {', '.join(f'{x:.3f}' for x in mean_ds)}"
    )
    if not worst <= tol:
        sys.exit("DISAGREEMENT: " + msg)
    return msg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, default=15_000)
    ap.add_argument("--pairs", type=int, default=5, help="alternating (pyincore, rescity) pairs")
    ap.add_argument("--seed", type=int, default=20190809)
    ap.add_argument("--tol", type=float, default=1e-6, help="max |Δ| of any probability")
    ap.add_argument("--child", choices=("pyincore", "rescity"), help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.inputs, a.out)
        return

    skip_if_missing("pyincore", "pyincore", "rasterio", "rescity")
    import pyincore

    with tempfile.TemporaryDirectory(prefix="peer-pyincore-") as tmp:
        folder = Path(tmp)
        inputs = folder / "inputs.json"
        inputs.write_text(json.dumps(make_inputs(folder, a.buildings, a.seed)))
        args = ["--inputs", str(inputs), "--out", str(folder)]

        _, py = run_child(HERE, ["--child", "pyincore", *args])
        _, rc = run_child(HERE, ["--child", "rescity", *args])
        agreement = check_agreement(py["csv"], rc["csv"], a.tol)

        kernel: list[float] = []

        def side(name: str) -> dict[str, float]:
            wall, r = run_child(HERE, ["--child", name, *args])
            if name == "rescity":
                kernel.append(r["kernel"])
            return {"process": wall, "analysis": r["analysis"]}

        runs = alternate({"pyincore": lambda: side("pyincore"), "rescity": lambda: side("rescity")}, a.pairs)

    print()
    print(f"machine: {machine_line({'pyincore': pyincore.__version__})}")
    print(
        f"{a.buildings:,} buildings, 4 classes, PGA raster {round((BBOX[2] - BBOX[0]) / PIXEL_DEG)}×"
        f"{round((BBOX[3] - BBOX[1]) / PIXEL_DEG)} pixels of 30″; pyincore num_cpu = 1"
    )
    print(agreement)
    print(f"{a.pairs} alternating pairs (pyincore, rescity, …), each a fresh process:")
    print()
    print(ratio_table(runs, "pyincore", "rescity", {"process": "whole process", "analysis": "files → CSV"}))
    ks = sorted(kernel)
    print()
    print(
        f"rescity curve mapping + evaluation alone (no I/O): median {ks[len(ks) // 2] * 1e3:.1f} ms "
        f"= {a.buildings / ks[len(ks) // 2]:,.0f} buildings/s"
    )


if __name__ == "__main__":
    main()

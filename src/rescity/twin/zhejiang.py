"""The default twin: Zhejiang province, 91 counties, 2020 census, grid cells and lifelines.

``build_zhejiang()`` builds it from packaged data in a few seconds: the power grid at 220 kV and
above from open data (:mod:`rescity.twin.backbone`), everything else generated
(:mod:`rescity.twin.lifelines`); ``synthetic=True`` generates the whole grid. :func:`default_twin` keeps a
built copy as GeoParquet under ``$RESCITY_HOME/cache`` (default ``~/.rescity``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from rescity import data
from rescity.seeds import DEFAULT_SEED
from rescity.twin.grid import ZHEJIANG_ALBERS, ZHEJIANG_TMERC, Projector, hilbert_index, square_grid
from rescity.twin.lifelines import GENERATOR_VERSION, LifelineParams, Region, generate
from rescity.twin.model import Twin, conform
from rescity.twin.population import KERNEL_MIN_KM, URBAN_DENSITY_PER_KM2, disaggregate, largest_remainder

#: English names missing from the boundary file.
_NAME_EN_FALLBACK = {"330371": "Wenzhou Economic and Technological Development Zone"}

Progress = Callable[[str, float], None]


def _areas_km2(geoms: np.ndarray, src_crs: str) -> np.ndarray:
    """Areas on the Albers equal-area projection, km²."""
    t = pyproj.Transformer.from_crs(src_crs, ZHEJIANG_ALBERS, always_xy=True)
    g = shapely.transform(np.asarray(geoms, dtype=object), lambda xy: np.c_[t.transform(xy[:, 0], xy[:, 1])])
    return shapely.area(g) / 1e6


def _to_wgs84(geoms: np.ndarray, proj: Projector) -> np.ndarray:
    return shapely.transform(
        np.asarray(geoms, dtype=object), lambda xy: np.c_[proj.to_lonlat(xy[:, 0], xy[:, 1])]
    )


def build_zhejiang(
    seed: int = DEFAULT_SEED,
    cell_km: float = 5.0,
    progress: Progress | None = None,
    synthetic: bool = False,
) -> Twin:
    """Build the Zhejiang twin.

    Parameters
    ----------
    seed:
        Seed of the lifeline generator; the units and populations do not depend on it.
    cell_km:
        Side of the square grid cells, km (cells are squares on a transverse Mercator with
        k0 = 1, so at most ``cell_km`` on the ground).
    progress:
        Optional ``callback(stage, fraction_done)``.
    synthetic:
        Generate the whole power grid from population and geography (the generator's rules,
        :class:`LifelineParams` defaults) instead of the real backbone from open data; for tests
        and places without data.

    Returns
    -------
    Twin
        Units (province → 11 prefectures → 91 counties → cells), lifelines, dependencies and
        service areas; ``geometry`` holds the unit polygons (WGS84).
    """
    if not cell_km > 0:
        from rescity.errors import InputError

        raise InputError("cell size must be positive", field="cell_km", value=cell_km)

    def tick(stage: str, frac: float) -> None:
        if progress is not None:
            progress(stage, frac)

    tick("counties", 0.0)
    proj = Projector(ZHEJIANG_TMERC)
    gdf = gpd.read_file(data.path("zhejiang_counties.geojson"))
    gdf = gdf.sort_values("county_code", kind="stable").reset_index(drop=True)
    pref = pd.read_csv(data.path("zhejiang_prefectures.csv"), dtype={"prefecture_code": str})
    plants = pd.read_csv(data.path("zhejiang_power_plants.csv"), dtype={"county_code": str})

    code = gdf["county_code"].astype(str).to_numpy(object)
    name_en = gdf["name_en"].fillna("").astype(str).to_numpy(object)
    for c, n in _NAME_EN_FALLBACK.items():
        name_en[(code == c) & (name_en == "")] = n
    pcode = gdf["prefecture_code"].astype(str).to_numpy(object)
    pref_index = pd.Series(np.arange(len(pref)), index=pref["prefecture_code"].to_numpy())
    cty_pref = pref_index.reindex(pcode).to_numpy()
    if np.isnan(cty_pref).any():
        raise ValueError("a county refers to a prefecture missing from zhejiang_prefectures.csv")
    cty_pref = cty_pref.astype(np.int64)
    cty_pop = gdf["population_2020"].to_numpy(np.int64)
    cty_urb = gdf["urban_share_2020"].to_numpy(float)
    hh_size = gdf["mean_household_size"].to_numpy(float)
    age014 = gdf["share_age_0_14"].to_numpy(float)
    age65 = gdf["share_age_65_plus"].to_numpy(float)

    geom_ll = gdf.geometry.to_numpy()
    geom_m = shapely.transform(geom_ll, lambda xy: np.c_[proj.to_xy(xy[:, 0], xy[:, 1])])
    cty_area = _areas_km2(geom_ll, "EPSG:4326")
    seat = shapely.point_on_surface(geom_m)
    seat_x, seat_y = shapely.get_x(seat), shapely.get_y(seat)
    coastal = shapely.get_num_geometries(geom_m) > 1

    # -- cells -------------------------------------------------------------------------------
    tick("cells", 0.1)
    cell_m = cell_km * 1000.0
    cgeom, cowner, ix, iy = square_grid(geom_m, cell_m)
    ccent = shapely.centroid(cgeom)
    crep = shapely.point_on_surface(cgeom)
    carea = _areas_km2(cgeom, ZHEJIANG_TMERC)
    dist_km = np.hypot(shapely.get_x(ccent) - seat_x[cowner], shapely.get_y(ccent) - seat_y[cowner]) / 1000.0
    tick("population", 0.2)
    cpop, curb = disaggregate(cowner, carea, dist_km, cty_pop, cty_urb)
    cty_hh = np.round(cty_pop / hh_size).astype(np.int64)
    chh = largest_remainder(cpop / hh_size[cowner], cowner, cty_hh)
    seq = pd.Series(cowner).groupby(cowner).cumcount().to_numpy() + 1
    cell_id = (pd.Series(code[cowner]) + "-c" + pd.Series(seq).astype(str).str.zfill(4)).to_numpy(object)

    # -- prefecture and province aggregates --------------------------------------------------
    n_pref = len(pref)
    pf_pop = np.bincount(cty_pref, cty_pop, minlength=n_pref).astype(np.int64)
    pf_hh = np.bincount(cty_pref, cty_hh, minlength=n_pref).astype(np.int64)

    def wmean(v: np.ndarray) -> np.ndarray:
        return np.bincount(cty_pref, v * cty_pop, minlength=n_pref) / pf_pop

    pf_geom_m = np.array(
        [shapely.union_all(geom_m[cty_pref == i], grid_size=1.0) for i in range(n_pref)], dtype=object
    )  # 11 prefectures
    prov_geom_m = shapely.union_all(pf_geom_m, grid_size=1.0)
    tot = int(cty_pop.sum())

    def w_all(v: np.ndarray) -> float:
        return float((v * cty_pop).sum() / tot)

    geoms_m = np.concatenate([[prov_geom_m], pf_geom_m, geom_m, cgeom])
    cent = shapely.centroid(geoms_m)
    lon, lat = proj.to_lonlat(shapely.get_x(cent), shapely.get_y(cent))
    n_c = len(cgeom)
    units = pd.DataFrame(
        {
            "unit_id": np.concatenate([["330000"], pref["prefecture_code"].to_numpy(object), code, cell_id]),
            "level": ["province"] + ["prefecture"] * n_pref + ["county"] * len(code) + ["cell"] * n_c,
            "parent_id": np.concatenate([[""], np.full(n_pref, "330000", dtype=object), pcode, code[cowner]]),
            "name_zh": np.concatenate(
                [["浙江省"], pref["name_zh"].to_numpy(object), gdf["name_zh"].to_numpy(object), cell_id]
            ),
            "name_en": np.concatenate([["Zhejiang"], pref["name_en"].to_numpy(object), name_en, cell_id]),
            "population": np.concatenate([[tot], pf_pop, cty_pop, cpop]),
            "households": np.concatenate([[int(cty_hh.sum())], pf_hh, cty_hh, chh]),
            "share_age_0_14": np.concatenate([[w_all(age014)], wmean(age014), age014, age014[cowner]]),
            "share_age_65_plus": np.concatenate([[w_all(age65)], wmean(age65), age65, age65[cowner]]),
            "urban_share": np.concatenate([[w_all(cty_urb)], wmean(cty_urb), cty_urb, curb]),
            "lon": lon,
            "lat": lat,
            "area_km2": np.concatenate(
                [[cty_area.sum()], np.bincount(cty_pref, cty_area, minlength=n_pref), cty_area, carea]
            ),
        }
    )
    units = conform(units, "units")
    n_noncell = len(units) - n_c
    geometry = gpd.GeoSeries(_to_wgs84(geoms_m, proj), crs="EPSG:4326")

    # -- lifelines ---------------------------------------------------------------------------
    region = Region(
        counties=pd.DataFrame(
            {
                "code": code,
                "name_zh": gdf["name_zh"].to_numpy(object),
                "name_en": name_en,
                "prefecture": cty_pref,
                "population": cty_pop,
                "urban_share": cty_urb,
                "area_km2": cty_area,
                "seat_x": seat_x,
                "seat_y": seat_y,
                "coastal": coastal,
            }
        ),
        prefectures=pd.DataFrame(
            {
                "code": pref["prefecture_code"].to_numpy(object),
                "name_zh": pref["name_zh"].to_numpy(object),
                "name_en": pref["name_en"].to_numpy(object),
                "population": pf_pop,
            }
        ),
        cells=pd.DataFrame(
            {
                "x": shapely.get_x(crep),
                "y": shapely.get_y(crep),
                "county": cowner,
                "population": cpop,
                "urban_share": curb,
                "area_km2": carea,
                "hilbert": hilbert_index(ix, iy),
            }
        ),
        land=prov_geom_m,
        cell_m=cell_m,
        plants=plants,
    )
    shapely.prepare(region.land)
    params = LifelineParams()
    if not synthetic:
        from rescity.twin.backbone import BACKBONE_PARAMS, load_backbone

        region.backbone = load_backbone(proj)
        params = BACKBONE_PARAMS

    def sub(stage: str, frac: float) -> None:
        tick(stage, 0.3 + 0.65 * frac)

    g = generate(region, seed, params, progress=sub)
    a = g.assets
    alon, alat = proj.to_lonlat(a["x"].to_numpy(), a["y"].to_numpy())
    a["lon"] = alon
    a["lat"] = alat
    a["unit_id"] = cell_id[a["cell"].to_numpy()]
    assets = conform(a, "assets")
    svc = g.service.rename(columns={"cell": "unit"})
    svc["unit"] = svc["unit"].to_numpy() + n_noncell
    twin = Twin(
        units=units,
        assets=assets,
        edges=conform(g.edges, "edges"),
        dependencies=conform(g.dependencies, "dependencies"),
        service=conform(svc, "service"),
        meta={
            "name": "zhejiang",
            "builder": "rescity.twin.zhejiang.build_zhejiang",
            "generator_version": GENERATOR_VERSION,
            "seed": int(seed),
            "cell_km": float(cell_km),
            "power_grid": "generated" if synthetic else "open-data backbone (rescity/data/odbl, ODbL 1.0)",
            "crs_grid": ZHEJIANG_TMERC,
            "population_method": {
                "urban_density_per_km2": URBAN_DENSITY_PER_KM2,
                "kernel_min_km": KERNEL_MIN_KM,
                "seat": "representative point of the county polygon",
            },
            "lifeline_params": g.params,
            "sources": "NBS 2020 census by county; CTAmap 2021 boundaries; see rescity/data/SOURCES.md"
            + (
                ""
                if synthetic
                else "; power backbone © OpenStreetMap contributors (ODbL 1.0), GridKit (Medjroubi et al."
                " 2017), WRI Global Power Plant Database (CC BY 4.0)"
            ),
        },
        geometry=geometry,
    )
    tick("done", 1.0)
    return twin


def rescity_home() -> Path:
    """``$RESCITY_HOME`` or ``~/.rescity``."""
    return Path(os.environ.get("RESCITY_HOME") or Path.home() / ".rescity")


def default_twin(
    seed: int = DEFAULT_SEED, cell_km: float = 5.0, progress: Progress | None = None, synthetic: bool = False
) -> Twin:
    """The Zhejiang twin, from the GeoParquet cache when present and current, else built and cached.

    The cache lives in ``$RESCITY_HOME/cache/twin-zhejiang-s<seed>-c<cell_km>-v<version>``
    (``twin-zhejiang-synthetic-…`` for ``synthetic=True``); a cached copy whose generator version
    differs from :data:`GENERATOR_VERSION` is rebuilt.
    """
    from rescity.twin.io import load, save

    cache = rescity_home() / "cache"
    name = "twin-zhejiang-synthetic" if synthetic else "twin-zhejiang"
    path = cache / f"{name}-s{int(seed)}-c{cell_km:g}-v{GENERATOR_VERSION}"
    if (path / "meta.json").exists():
        try:
            twin = load(path)
            if str(twin.meta.get("generator_version")) == GENERATOR_VERSION:
                return twin
        except Exception:  # noqa: BLE001 - a broken cache is rebuilt
            pass
    kw = {"synthetic": True} if synthetic else {}
    twin = build_zhejiang(seed=seed, cell_km=cell_km, progress=progress, **kw)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".twin-", dir=cache))
    try:
        save(twin, tmp)
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return twin

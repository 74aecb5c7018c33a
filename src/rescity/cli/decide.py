"""``rescity decide relocate|preposition|plan``: decisions from a forecast's issuances.csv."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from rescity.cli._common import SETTINGS, console
from rescity.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

decide_app = typer.Typer(
    help="Decisions from a forecast: relocation to shelters, supply pre-positioning, action plan.",
    no_args_is_help=True,
)


def select_issuance(path: Path, issued: Optional[str], lead: Optional[int]) -> tuple[pd.DataFrame, str, int]:
    """Rows of one issuance and lead window of ``issuances.csv`` (default: latest issuance, 24 h)."""
    import pandas as pd

    from rescity.forecast.verify import read_issuances

    t = read_issuances(path)
    times = pd.to_datetime(t["issued"], utc=True)
    if issued is None:
        ts = times.max()
    else:
        ts = pd.Timestamp(issued)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        if not (times == ts).any():
            raise InputError("no such issuance in the forecast", file=path, field="issued", value=issued)
    sub = t[times == ts]
    leads = sorted(int(x) for x in sub["lead_h"].unique())
    L = (24 if 24 in leads else leads[0]) if lead is None else int(lead)
    if L not in leads:
        raise InputError(f"that issuance has lead windows {leads}", file=path, field="lead_h", value=lead)
    return sub[sub["lead_h"] == L], f"{ts:%Y-%m-%dT%H:%MZ}", L


def _indicator(sub: pd.DataFrame, name: str, stat: str, path: Path) -> pd.Series:
    import pandas as pd
    if stat not in ("mean", "p05", "p95"):
        raise InputError("--stat is mean, p05 or p95", field="stat", value=stat)
    x = sub[sub["indicator"] == name]
    if x.empty:
        raise InputError(f"the forecast has no {name!r} rows", file=path, field="indicator", value=name)
    return pd.Series(x[stat].to_numpy(float), index=x["unit_id"].astype(str).to_numpy())


def _base_values(twin, s: pd.Series) -> pd.Series:
    from rescity.forecast.indicators import base_level

    lv = base_level(twin)
    base_ids = twin.units.loc[twin.units["level"] == lv, "unit_id"].astype(str)
    missing = base_ids[~base_ids.isin(s.index)]
    if len(missing) == len(base_ids):
        raise InputError(
            f"the forecast has no rows for the twin's {lv} units (is it for another twin?)",
            field="unit_id",
            value=str(base_ids.iloc[0]),
        )
    return s.reindex(base_ids).fillna(0.0)


def _map(path: Path, twin, values: pd.Series, points: pd.DataFrame, title: str, label: str) -> None:
    """PNG map: base units as dots sized/coloured by ``values``, facilities as triangles."""
    import numpy as np

    from rescity.forecast.report import _figure, unit_shapes

    fig = _figure()
    ax = fig.add_subplot(111)
    shapes = unit_shapes(twin, "county")
    if len(shapes):
        shapes.plot(ax=ax, color="#f0f0f0", edgecolor="#bbbbbb", linewidth=0.4)
    u = twin.units.set_index("unit_id").loc[values.index]
    sc = ax.scatter(u["lon"], u["lat"], c=values.to_numpy(), s=8, cmap="viridis", edgecolors="none")
    fig.colorbar(sc, ax=ax, shrink=0.7, label=label)
    if len(points):
        ax.scatter(points["lon"], points["lat"], marker="^", s=18, c="crimson", label="facility")
        ax.legend(loc="lower right", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_aspect(1.0 / np.cos(np.radians(float(u["lat"].mean()) if len(u) else 29.0)))
    fig.savefig(path, bbox_inches="tight")


def _report(out: Path) -> None:
    from rescity.decide.report import write_decide_report

    console.print(f"wrote {write_decide_report(out)}")


@decide_app.command("relocate")
def relocate_cmd(
    forecast: Path = typer.Option(..., "--forecast", help="issuances.csv from rescity forecast."),
    issued: Optional[str] = typer.Option(None, "--issued", help="Issuance (default: the latest)."),
    lead: Optional[int] = typer.Option(None, "--lead", help="Lead window, hours (default 24)."),
    stat: str = typer.Option("mean", "--stat", help="Which forecast value to plan for: mean, p05 or p95."),
    max_minutes: Optional[float] = typer.Option(
        None, "--max-minutes", help="Ignore shelters farther than this."
    ),
    twin_path: Optional[Path] = typer.Option(None, "--twin"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", "-o"),
) -> None:
    """Assign the people to relocate to shelters by road travel time (min-cost flow), within capacities."""
    from rescity.cli.forecast import load_twin
    from rescity.decide.relocate import relocate

    seed, _, out = SETTINGS.pick(seed, None, out)
    out.mkdir(parents=True, exist_ok=True)
    sub, ts, L = select_issuance(forecast, issued, lead)
    twin = load_twin(twin_path)
    people = _base_values(twin, _indicator(sub, "relocate", stat, forecast))
    plan = relocate(twin, people, max_minutes=max_minutes)
    plan.by_unit.to_csv(out / "relocation_units.csv", index=False)
    plan.assignments.to_csv(out / "relocation_assignments.csv", index=False)
    plan.shelters.to_csv(out / "shelters.csv", index=False)
    from rescity.decide.report import relocation_balance, relocation_map, relocation_why

    balance = relocation_balance(twin.units, plan.by_unit, plan.shelters)
    why = relocation_why(plan.summary, balance)
    summ = dict(plan.summary, issued=ts, lead_h=L, stat=stat, why=why)
    (out / "relocation.json").write_text(
        json.dumps(summ, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    (out / "relocation_map.png").write_bytes(
        relocation_map(twin, balance, f"People left without a shelter place — {ts}, next {L} h", plan.by_unit)
    )
    s = plan.summary
    console.print(
        f"{s['people_to_relocate']:,} people to relocate, {s['assigned']:,} assigned, "
        f"{s['unassigned']:,} without a place; shelters {s['shelters']} ({s['shelter_capacity']:,} places)"
    )
    for m in (10, 15, 30):
        v = s[f"share_within_{m}min"]
        console.print(
            f"  within {m} min: {'' if v is None else f'{100 * v:.1f} %'} of the people to relocate"
        )
    console.print(why)
    console.print(
        f"wrote {out / 'relocation_units.csv'}, relocation_assignments.csv, shelters.csv, relocation_map.png"
    )
    _report(out)


@decide_app.command("preposition")
def preposition_cmd(
    forecast: Path = typer.Option(..., "--forecast", help="issuances.csv from rescity forecast."),
    issued: Optional[str] = typer.Option(None, "--issued"),
    lead: Optional[int] = typer.Option(None, "--lead"),
    stat: str = typer.Option("mean", "--stat", help="mean, p05 or p95 of the forecast."),
    days: float = typer.Option(3.0, "--days", help="Days of supply."),
    level: str = typer.Option("county", "--level", help="Demand points: units of this level."),
    open_cost: float = typer.Option(500.0, "--open-cost", help="Cost of opening a depot, m³·min."),
    max_minutes: float = typer.Option(120.0, "--max-minutes", help="Reachability limit, minutes."),
    max_depots: Optional[int] = typer.Option(None, "--max-depots"),
    twin_path: Optional[Path] = typer.Option(None, "--twin"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", "-o"),
) -> None:
    """Choose depots and stocks of water, food, generators and tarpaulins (capacitated facility location)."""
    from rescity.cli.forecast import load_twin
    from rescity.decide.preposition import preposition

    seed, _, out = SETTINGS.pick(seed, None, out)
    out.mkdir(parents=True, exist_ok=True)
    sub, ts, L = select_issuance(forecast, issued, lead)
    twin = load_twin(twin_path)
    rel = _base_values(twin, _indicator(sub, "relocate", stat, forecast))
    homes = _base_values(twin, _indicator(sub, "homes_damaged", stat, forecast))
    plan = preposition(
        twin,
        rel,
        homes,
        days=days,
        level=level,
        open_cost=open_cost,
        max_minutes=max_minutes,
        max_depots=max_depots,
    )
    plan.depots.to_csv(out / "depots.csv", index=False)
    plan.flows.to_csv(out / "supply_flows.csv", index=False)
    plan.demand.to_csv(out / "supply_demand.csv", index=False)
    summ = dict(plan.summary, issued=ts, lead_h=L, stat=stat)
    (out / "preposition.json").write_text(
        json.dumps(summ, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    a = twin.assets
    dep = a[a["asset_id"].isin(plan.depots.loc[plan.depots["open"], "depot_id"])]
    _map(
        out / "preposition_map.png",
        twin,
        rel,
        dep,
        f"people to relocate and depots opened — {ts}, next {L} h",
        "people to relocate",
    )
    s = plan.summary
    console.print(
        f"{s['depots_open']} of {s['depots']} depots opened; "
        f"{s['served_m3']:,.1f} of {s['demand_m3']:,.1f} m³ served"
    )
    for k, v in s["unmet"].items():
        if v > 0:
            console.print(f"  unmet {k}: {v:,.0f} {s['units'][k]}")
    console.print(f"wrote {out / 'depots.csv'}, supply_flows.csv, supply_demand.csv, preposition_map.png")
    _report(out)


@decide_app.command("plan")
def plan_cmd(
    forecast: Path = typer.Option(..., "--forecast", help="issuances.csv from rescity forecast."),
    issued: Optional[str] = typer.Option(None, "--issued"),
    lead: Optional[int] = typer.Option(None, "--lead"),
    indicator: str = typer.Option(
        "composite", "--indicator", help="Indicator whose warning drives the plan."
    ),
    level: Optional[str] = typer.Option(None, "--level", help="Only units of this level (default: all)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o"),
) -> None:
    """Before/during/after actions per unit and warning level, as a table (CSV) and JSON for the dashboard."""
    from rescity.decide.plan import action_plan, write_plan

    _, _, out = SETTINGS.pick(None, None, out)
    out.mkdir(parents=True, exist_ok=True)
    sub, ts, L = select_issuance(forecast, issued, lead)
    u = sub[sub["indicator"] == indicator]
    if u.empty:
        raise InputError(
            f"the forecast has no {indicator!r} rows", file=forecast, field="indicator", value=indicator
        )
    if level is not None:
        u = u[u["level"] == level]
    cols = [c for c in ("unit_id", "level", "name_zh", "name_en", "warning") if c in u.columns]
    plan = action_plan(u[cols])
    write_plan(plan, out / "action_plan.csv", out / "action_plan.json")
    counts = u["warning"].value_counts().to_dict()
    console.print(
        f"issuance {ts}, next {L} h: units by warning {dict(sorted(counts.items()))}; {len(plan)} actions"
    )
    console.print(f"wrote {out / 'action_plan.csv'} and {out / 'action_plan.json'}")
    _report(out)


def register(app: typer.Typer) -> None:
    """Add ``decide`` to the ``rescity`` command."""
    app.add_typer(decide_app, name="decide")

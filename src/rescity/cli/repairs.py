"""``rescity redundancy`` and ``rescity repair-plan``: decisions on a storm's restoration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

from rescity.cli._common import SETTINGS, console
from rescity.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def _scenario(sn: str, n: int, seed: int, twin_path: Optional[Path], scenario: Optional[Path], workers: int):
    """Hazard, damage and recovery of a storm, without writing the scenario outputs."""
    from rescity.cli.scenario import _progress
    from rescity.run.config import RunConfig
    from rescity.run.scenario import run_scenario

    cfg = RunConfig.from_options(
        sn=sn, realisations=n, seed=seed, workers=workers, scheduler=SETTINGS.scheduler, twin=twin_path, scenario=scenario
    )
    with _progress() as prog:
        tasks: dict[str, int] = {}

        def cb(stage: str, done: float, total: float) -> None:
            if stage not in tasks:
                tasks[stage] = prog.add_task(stage, total=max(total, 1))
            prog.update(tasks[stage], completed=done, total=max(total, 1))

        return run_scenario(cfg, progress=cb)


def _wide() -> Console:
    return Console(width=max(console.width, 160), soft_wrap=False)


def repair_plan_run(
    res, prefecture: Optional[str], realisation: Optional[int], time_limit_s: float, n_random: int
):
    """Optimise one prefecture's repairs in one realisation of a scenario run and compare."""
    import numpy as np

    from rescity.decide.repair_opt import compare_plans, optimise_plan

    rec = res.recovery
    units = rec.units
    pref_rows = np.flatnonzero(units["level"].to_numpy() == "prefecture")
    total = sum(rec.customer_hours[sv] for sv in rec.systems)  # (R, U)
    if prefecture is None:
        if not len(pref_rows):
            raise InputError("the twin has no prefectures: give --prefecture", field="--prefecture")
        prefecture = str(units["unit_id"].iloc[pref_rows[np.argmax(total[:, pref_rows].mean(axis=0))]])
    ids = units["unit_id"].astype(str).to_numpy()
    if prefecture not in ids:
        raise InputError("unknown prefecture", field="--prefecture", value=prefecture)
    u = int(np.flatnonzero(ids == prefecture)[0])
    if realisation is None:  # the realisation of median loss in that prefecture
        x = total[:, u]
        realisation = int(np.argsort(x)[len(x) // 2])
    if not 0 <= realisation < rec.realisations:
        raise InputError(
            f"realisation must be 0…{rec.realisations - 1}", field="--realisation", value=realisation
        )
    cfg = res.config.recovery.engine_config()
    states = res.sim.states[realisation]
    plan = optimise_plan(
        res.twin,
        states,
        prefecture,
        realisation=realisation,
        seed=res.settings.seed,
        config=cfg,
        horizon_h=res.settings.horizon_h,
        time_limit_s=time_limit_s,
    )
    cmp = compare_plans(
        res.twin,
        states,
        plan,
        seed=res.settings.seed,
        config=cfg,
        horizon_h=res.settings.horizon_h,
        n_random=n_random,
    )
    return plan, cmp


def repair_plan_section(plan, cmp: pd.DataFrame, units: pd.DataFrame):
    """A report section comparing the optimised plan with the default policy and random orders."""
    import html

    from rescity.report.html import Section, table_html

    name = units.loc[units["unit_id"].astype(str) == plan.prefecture, ["name_zh", "name_en"]]
    nm = " ".join(name.iloc[0].astype(str)) if len(name) else plan.prefecture
    show = cmp.copy()
    show["customer_hours_lost"] = (show["customer_hours_lost"] / 1e6).round(2)
    show = show.rename(columns={"customer_hours_lost": "customer-hours lost (M)"})
    for c in show.columns:
        if c.startswith("resilience_loss_h_"):
            show[c] = show[c].round(2)
    opt = cmp.iloc[0]["customer_hours_lost"]
    dflt = cmp.iloc[1]["customer_hours_lost"]
    rnd = cmp[cmp["policy"].str.startswith("random order ")]["customer_hours_lost"].mean()
    body = (
        f"<p>{html.escape(plan.prefecture)} {html.escape(nm)}, realisation {plan.realisation}: {plan.jobs} repair jobs, "
        f"{plan.groups} groups of service terminals, {plan.periods} periods of {plan.period_h:g} h; HiGHS status "
        f"<b>{html.escape(plan.status)}</b>"
        + (f", gap {100 * plan.mip_gap:.2f} %" if plan.mip_gap is not None else "")
        + f", {plan.solve_s:.1f} s. Customer-hours lost (all services) with the optimised order: {opt / 1e6:.2f} M, "
        f"{100 * (1 - opt / dflt):+.1f} % against the default policy ({dflt / 1e6:.2f} M) and "
        f"{100 * (1 - opt / rnd):+.1f} % against random orders (mean {rnd / 1e6:.2f} M).</p>"
        + table_html(show)
    )
    return Section("Optimised repair sequencing", body)


# Options shared by ``repair-plan`` and ``redundancy``: both run a scenario first.
REALISATIONS = typer.Option(None, "--realisations", "-n", min=1, help="Realisations (default 50).")
SEED = typer.Option(None, "--seed")
OUT = typer.Option(None, "--out", "-o")
TWIN = typer.Option(None, "--twin", help="A saved twin; default: Zhejiang.")
SCENARIO = typer.Option(None, "--scenario", help="Recovery scenario file (YAML or TOML).")
WORKERS = typer.Option(1, "--workers", min=1)


def _pick(seed: Optional[int], realisations: Optional[int], out: Optional[Path]) -> tuple[int, int, Path]:
    """Seed, realisations and output folder; 50 realisations unless given here or globally."""
    seed_, n, out_ = SETTINGS.pick(seed, realisations, out)
    if realisations is None and SETTINGS.realisations == 500:
        n = 50
    return seed_, n, out_


def register(app: typer.Typer) -> None:
    @app.command("repair-plan")
    def repair_plan(
        sn: str = typer.Option(
            "201910", "--sn", help="Storm id in the packaged best track (default Lekima)."
        ),
        prefecture: Optional[str] = typer.Option(
            None, "--prefecture", help="Prefecture code; default: the largest loss."
        ),
        realisation: Optional[int] = typer.Option(
            None, "--realisation", help="Realisation; default: median loss there."
        ),
        time_limit_s: float = typer.Option(120.0, "--time-limit", min=1.0, help="HiGHS time limit, seconds."),
        n_random: int = typer.Option(5, "--random", min=1, help="Random orders to compare with."),
        realisations: Optional[int] = REALISATIONS,
        seed: Optional[int] = SEED,
        out: Optional[Path] = OUT,
        twin: Optional[Path] = TWIN,
        scenario: Optional[Path] = SCENARIO,
        workers: int = WORKERS,
    ) -> None:
        """Optimise a prefecture's repair order (INDP-style MILP, HiGHS); compare with the default and random orders."""
        import numpy as np
        import pandas as pd

        from rescity.report.html import render_page

        seed_, n, out_ = _pick(seed, realisations, out)
        res = _scenario(sn, n, seed_, twin, scenario, workers)
        plan, cmp = repair_plan_run(res, prefecture, realisation, time_limit_s, n_random)
        out_ = Path(out_)
        out_.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(
            {
                "rank": np.arange(1, len(plan.order) + 1),
                "asset_id": plan.order,
                "completion_period": plan.completion_period.reindex(plan.order).to_numpy(),
            }
        ).to_csv(out_ / "repair_plan.csv", index=False)
        cmp.to_csv(out_ / "repair_compare.csv", index=False, float_format="%.6g")
        meta = {k: v for k, v in plan.__dict__.items() if k not in ("order", "completion_period")}
        (out_ / "repair_plan.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        render_page(
            f"rescity — repair sequencing {plan.prefecture}",
            [repair_plan_section(plan, cmp, res.recovery.units)],
            out_ / "repair_plan.html",
            subtitle=f"storm {sn}, realisation {plan.realisation}",
        )
        t = Table(
            title=f"Repair order for {plan.prefecture}, realisation {plan.realisation} ({plan.status})",
            title_justify="left",
        )
        for c in cmp.columns:
            t.add_column(c, justify="left" if c == "policy" else "right", no_wrap=True)
        for _, r in cmp.iterrows():
            t.add_row(
                str(r["policy"]),
                *(f"{r[c]:,.2f}" if c != "customer_hours_lost" else f"{r[c]:,.0f}" for c in cmp.columns[1:]),
            )
        _wide().print(t)
        for f in ("repair_plan.csv", "repair_compare.csv", "repair_plan.json", "repair_plan.html"):
            console.print(f"wrote {f}: {out_ / f}")

    @app.command()
    def redundancy(
        sn: str = typer.Option(
            "201910", "--sn", help="Storm id in the packaged best track (default Lekima)."
        ),
        budget: float = typer.Option(5e7, "--budget", min=0.0, help="Budget, CNY."),
        candidates: Optional[Path] = typer.Option(
            None, "--candidates", help="Candidate measures CSV; default: generated."
        ),
        per_type: int = typer.Option(10, "--per-type", min=1, help="Generated candidates per type."),
        realisations: Optional[int] = REALISATIONS,
        seed: Optional[int] = SEED,
        out: Optional[Path] = OUT,
        twin: Optional[Path] = TWIN,
        scenario: Optional[Path] = SCENARIO,
        workers: int = WORKERS,
    ) -> None:
        """Budgeted redundancy investment: backup generators, batteries, second feeds, tie lines (benefit/cost)."""
        from rescity.decide.redundancy import default_candidates, read_candidates, redundancy_plan
        from rescity.report.html import Section, render_page, table_html

        seed_, n, out_ = _pick(seed, realisations, out)
        res = _scenario(sn, n, seed_, twin, scenario, workers)
        tw = res.twin
        if candidates is not None:
            cand = read_candidates(candidates, tw)
        else:
            expo = 1.0 - res.sim.functional.mean(axis=0)
            cand = default_candidates(tw, horizon_h=res.settings.horizon_h, n=per_type, exposure=expo)
        from rescity.cli.scenario import _progress

        with _progress() as prog:
            task = prog.add_task("measures", total=max(len(cand), 1))
            rr = redundancy_plan(
                tw,
                res.sim.states,
                res.recovery.restore_h,
                cand,
                budget,
                horizon_h=res.settings.horizon_h,
                recovery_h=float(res.recovery.hours[-1]),
                progress=lambda d, t: prog.update(task, completed=d, total=max(t, 1)),
            )
        out_ = Path(out_)
        out_.mkdir(parents=True, exist_ok=True)
        rr.table.to_csv(out_ / "redundancy.csv", index=False, float_format="%.6g")
        (out_ / "redundancy.json").write_text(json.dumps(rr.summary, indent=2), encoding="utf-8")
        s = rr.summary
        show = rr.table[
            [
                "measure_id",
                "type",
                "asset_id",
                "other_id",
                "unit_id",
                "cost_cny",
                "benefit_ch",
                "benefit_per_mcny",
                "selected",
            ]
        ].copy()
        show["cost_cny"] = (show["cost_cny"] / 1e6).round(3)
        show["benefit_ch"] = (show["benefit_ch"] / 1e6).round(3)
        show["benefit_per_mcny"] = (show["benefit_per_mcny"] / 1e6).round(3)
        show = show.rename(
            columns={
                "cost_cny": "cost (M CNY)",
                "benefit_ch": "customer-hours saved (M)",
                "benefit_per_mcny": "saved per M CNY (M)",
            }
        )
        body = (
            f"<p>Budget {s['budget_cny'] / 1e6:,.1f} M CNY; {s['selected']} measures selected for {s['cost_cny'] / 1e6:,.2f} M CNY. "
            f"Expected customer-hours lost over {s['realisations']} realisations: {s['customer_hours_base'] / 1e6:,.1f} M without, "
            f"{s['customer_hours_with_measures'] / 1e6:,.1f} M with the selection (saved: {s['benefit_joint_ch'] / 1e6:,.2f} M together, "
            f"{s['benefit_sum_ch'] / 1e6:,.2f} M as the sum of the measures alone).</p>" + table_html(show)
        )
        render_page(
            "rescity — redundancy investment",
            [Section("Benefit and cost", body)],
            out_ / "redundancy.html",
            subtitle=f"storm {sn}: measures that most reduce the expected resilience loss within the budget",
        )
        t = Table(title=f"Redundancy within {budget / 1e6:,.1f} M CNY — selected", title_justify="left")
        for c in ("measure", "type", "cost M CNY", "customer-hours saved", "per M CNY"):
            t.add_column(c, justify="left" if c in ("measure", "type") else "right", no_wrap=True)
        for _, r in rr.table[rr.table["selected"]].iterrows():
            t.add_row(
                str(r["measure_id"]),
                str(r["type"]),
                f"{r['cost_cny'] / 1e6:.2f}",
                f"{r['benefit_ch']:,.0f}",
                f"{r['benefit_per_mcny']:,.0f}",
            )
        _wide().print(t)
        console.print(
            f"saved together {s['benefit_joint_ch']:,.0f} customer-hours ({100 * s['benefit_joint_ch'] / max(s['customer_hours_base'], 1):.1f} %) "
            f"for {s['cost_cny'] / 1e6:,.2f} M CNY"
        )
        for f in ("redundancy.csv", "redundancy.json", "redundancy.html"):
            console.print(f"wrote {f}: {out_ / f}")

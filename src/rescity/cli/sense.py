"""``rescity sense``: live sensing — MQTT ingest, replay of recordings, the rules table."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Optional

import typer

from rescity.cli._common import console, err_console
from rescity.errors import InputError
from rescity.seeds import DEFAULT_SEED

STORE_HELP = "Store URL: sqlite:///path or postgresql://…; default $RESCITY_STORE or sqlite:///$RESCITY_HOME/rescity.db."
BROKER_HELP = "MQTT broker URL: mqtt://[user:password@]host[:port] (mqtts:// for TLS)."


def stored_twin(store, twin: str) -> str:
    """The stored twin's name for ``--twin NAME|PATH``: a folder is imported (once) under its
    name; ``zhejiang`` is built (or taken from the cache) and stored when missing."""
    from rescity.cli._common import err_console as ec

    p = Path(twin)
    if p.is_dir():
        from rescity.twin.io import load

        t = load(p)
        name = str(t.meta.get("name") or p.name)
        if not store.has_twin(name):
            store.put_twin(name, t)
            ec.print(f"stored twin {name!r} from {p}", highlight=False)
        return name
    if store.has_twin(twin):
        return twin
    if twin == "zhejiang":
        from rescity.twin.zhejiang import default_twin

        ec.print("storing the default Zhejiang twin (once) …", highlight=False)
        store.put_twin("zhejiang", default_twin())
        return twin
    names = ", ".join(t["name"] for t in store.list_twins()) or "none"
    raise InputError(
        f"no twin named {twin!r} is stored (stored: {names}); give a twin folder or import one with "
        "rescity store import-twin",
        field="--twin",
        value=twin,
    )


def register(app: typer.Typer) -> None:
    sense_app = typer.Typer(
        help="Live sensing: ingest NGSI-LD sensor messages from MQTT, warning rules, alerts, nowcasts.",
        invoke_without_command=True,
    )

    @sense_app.callback()
    def run(
        ctx: typer.Context,
        broker: str = typer.Option("mqtt://localhost:1883", "--broker", help=BROKER_HELP),
        store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
        twin: str = typer.Option("zhejiang", "--twin", help="Stored twin name, or a twin folder to store."),
        client_id: str = typer.Option(
            "rescity-sense",
            "--client-id",
            help="Fixed MQTT client id: the broker keeps its session between runs.",
        ),
        prefix: str = typer.Option(
            "rescity", "--prefix", help="Topic prefix: <prefix>/entities/#, <prefix>/alerts."
        ),
        stations: Optional[Path] = typer.Option(
            None,
            "--stations",
            exists=True,
            dir_okay=False,
            help="Station table CSV (default: the packaged one).",
        ),
        rules: Optional[Path] = typer.Option(
            None, "--rules", exists=True, dir_okay=False, help="Rules YAML (default: the packaged one)."
        ),
        batch: int = typer.Option(2000, "--batch", min=1, help="Most messages per store transaction."),
        nowcast: bool = typer.Option(
            True, "--nowcast/--no-nowcast", help="Nowcast after asset status changes."
        ),
        status_every: float = typer.Option(
            5.0, "--status-every", min=0.5, help="Seconds between status lines."
        ),
    ) -> None:
        """Run the ingest until interrupted: subscribe to <prefix>/entities/# (QoS 1, persistent
        session), store readings, raise alerts on <prefix>/alerts, nowcast on <prefix>/nowcast/<twin>."""
        if ctx.invoked_subcommand is not None:
            return
        from rescity.sense.ingest import Ingest
        from rescity.sense.processor import Processor
        from rescity.sense.rules import load_rules
        from rescity.sense.stations import Stations
        from rescity.store import open_store

        st = open_store(store)
        try:
            name = stored_twin(st, twin)
            proc = Processor(
                st,
                name,
                stations=Stations.load(stations) if stations else None,
                rules=load_rules(rules) if rules else None,
            )
            ing = Ingest(
                proc,
                broker,
                client_id=client_id,
                prefix=prefix,
                batch_max=batch,
                nowcast=nowcast,
                on_status=lambda s: err_console.print(s, highlight=False, soft_wrap=True),
            )
            err_console.print(
                f"rescity sense: store {st.display_url}, twin {name!r}, broker {broker}, "
                f"{len(proc.stations)} stations, {len(proc.rules.rules)} rules; Ctrl-C stops",
                highlight=False,
                soft_wrap=True,
            )

            def _stop(signum, frame):
                ing.stop()

            signal.signal(signal.SIGTERM, _stop)
            try:
                ing.run(status_every_s=status_every)
            except KeyboardInterrupt:
                ing.stop()
            err_console.print("stopped: " + ing.status_line(), highlight=False, soft_wrap=True)
        finally:
            st.close()

    @sense_app.command("replay")
    def replay_cmd(
        file: Optional[Path] = typer.Argument(
            None, help="Recording (JSON lines, .gz allowed); default: the packaged Lekima day."
        ),
        speed: float = typer.Option(
            60.0, "--speed", min=0.0, help="Replay speed: 60 = one hour per minute; 0 = as fast as possible."
        ),
        broker: str = typer.Option("mqtt://localhost:1883", "--broker", help=BROKER_HELP),
        prefix: str = typer.Option(
            "rescity", "--prefix", help="Topic prefix (publishes on <prefix>/entities/…)."
        ),
        retime: bool = typer.Option(
            False, "--retime", help="Shift all times so the last message is stamped now."
        ),
        limit: Optional[int] = typer.Option(
            None, "--limit", min=1, help="Publish only the first N messages."
        ),
    ) -> None:
        """Publish a recording of sensor messages (QoS 1) at its own pace times --speed."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from rescity.sense.replay import packaged_recording, replay

        path = file or packaged_recording()
        with Progress(
            TextColumn("[bold]replay[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("replay", total=None)

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            r = replay(path, broker, speed=speed, prefix=prefix, retime=retime, limit=limit, progress=tick)
        console.print(
            f"published {r['published']:,} messages from {path.name} in {r['seconds']:.1f} s "
            f"({r.get('rate', 0):,.0f}/s), observation times {r.get('first', '')} … {r.get('last', '')}",
            highlight=False,
            soft_wrap=True,
        )

    @sense_app.command("broker-config")
    def broker_config() -> None:
        """Print the Mosquitto configuration for the ingest (persistence, no queue cap)."""
        from importlib.resources import files

        typer.echo((files("rescity.sense") / "mosquitto.conf").read_text(encoding="utf-8"), nl=False)

    @sense_app.command("rules")
    def rules_cmd(
        rules: Optional[Path] = typer.Option(
            None, "--rules", exists=True, dir_okay=False, help="Rules YAML."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Print the warning rules with their sources."""
        from rich.table import Table

        from rescity.sense.rules import load_rules

        rs = load_rules(rules)
        df = rs.table()
        if as_json:
            console.print_json(
                json.dumps({"rules": df.to_dict(orient="records"), "sources": rs.sources}, ensure_ascii=False)
            )
            return
        t = Table(title="warning rules", show_lines=False)
        for c in ("id", "level", "condition", "persist_on", "persist_off", "source"):
            t.add_column(c, no_wrap=c != "condition")
        for r in df.itertuples():
            t.add_row(r.id, r.level, r.condition, str(r.persist_on), str(r.persist_off), r.source)
        console.print(t)
        for k, v in rs.sources.items():
            console.print(f"[bold]{k}[/]: {v}", highlight=False, soft_wrap=True)

    @sense_app.command("record")
    def record_cmd(
        out: Path = typer.Argument(..., help="Output file (.jsonl or .jsonl.gz)."),
        seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Seed of the noise and the faults."),
        hours: float = typer.Option(24.0, "--hours", min=1.0, help="Length of the recording, hours."),
    ) -> None:
        """Generate the synthetic Lekima sensor recording (what the packaged one was made with)."""
        from rescity.sense.recording import make_recording

        r = make_recording(out, seed=seed, hours=hours)
        console.print(
            f"wrote {r['lines']:,} messages to {out} ({r['start']} … {r['end']}); faulty sensors: "
            + ", ".join(f"{f['station']} {f['quantity']} {f['fault']}" for f in r["faults"]),
            highlight=False,
            soft_wrap=True,
        )

    app.add_typer(sense_app, name="sense")

"""``RunConfig``: the one description of a scenario run.

The same pydantic model is built from the ``rescity run``/``demo`` options
(:meth:`RunConfig.from_options`), from an API job's JSON (:meth:`RunConfig.load`) and from a
scenario file in YAML, TOML or JSON (:meth:`RunConfig.from_file`). Its JSON Schema
(:func:`json_schema`, ``rescity config schema``) is documented in ``docs/run-config.md``.
Every problem is raised as one :class:`~rescity.errors.InputError` naming the file, the field
(dotted path) and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rescity.engine.event import CALIBRATION_PARAMS
from rescity.engine.executor import check_scheduler
from rescity.errors import InputError
from rescity.hazard.registry import DEFAULT_TYPHOON_HAZARDS, TYPHOON_HAZARDS, parse_hazards
from rescity.hazard.scenario import EarthquakeScenario, as_input_error
from rescity.seeds import DEFAULT_SEED

#: Default number of Monte Carlo realisations of a scenario run.
DEFAULT_REALISATIONS: int = 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TwinSpec(_Strict):
    """The city model: a saved twin (``path``) or the default Zhejiang twin built with ``seed``
    (its synthetic lifelines; separate from the Monte Carlo seed)."""

    path: Optional[Path] = Field(None, description="saved twin (rescity twin build); default: Zhejiang")
    seed: int = Field(DEFAULT_SEED, description="seed of the default twin's generated lifelines")
    synthetic: bool = Field(
        False, description="default twin only: generate the whole power grid instead of the open-data backbone"
    )

    @property
    def label(self) -> str:
        if self.path is not None:
            return str(self.path)
        return "zhejiang (synthetic grid)" if self.synthetic else "zhejiang (default)"


class RecoverySpec(_Strict):
    """Restoration settings (see :class:`rescity.engine.recovery.RecoveryConfig`).

    ``file``: a recovery scenario file (YAML/TOML, settings under ``recovery``) read instead of
    the fields here. Fields left unset take the engine's defaults.
    """

    enabled: bool = True
    file: Optional[Path] = None
    horizon_days: Optional[float] = Field(None, gt=0, description="days simulated")
    step_h: Optional[float] = Field(None, gt=0, description="time step, hours")
    policy: Optional[str] = Field(None, description="repair priority policy, e.g. people_per_hour")
    policy_params: Optional[dict[str, Any]] = None
    assets_per_crew: Optional[dict[str, float]] = None
    min_crews: Optional[int] = Field(None, ge=1)
    crews: Optional[dict[str, dict[str, int]]] = Field(
        None, description='crews per prefecture code (or "default") and system'
    )
    repair_times: Optional[str] = Field(None, description="CSV of repair times (hours) per kind and state")
    travel: Optional[bool] = None
    mutual_aid: Optional[float] = Field(None, ge=0, le=1, description="share of crews that move")
    levels: Optional[list[str]] = None

    def settings(self) -> dict[str, Any]:
        """The restoration settings given (no ``enabled``/``file``)."""
        return self.model_dump(exclude_none=True, exclude={"enabled", "file"})

    def engine_config(self) -> Any:
        """The engine's :class:`~rescity.engine.recovery.RecoveryConfig`, checked (policy, systems,
        crews) by the engine's own rules."""
        from rescity.engine.recovery import RecoveryConfig, load_scenario

        if self.file is not None:
            return load_scenario(self.file)
        d = self.settings()
        if "levels" in d:
            d["levels"] = tuple(d["levels"])
        return RecoveryConfig.from_mapping(d)


class OutputSpec(_Strict):
    """What a run writes: the folder (``units.csv``, ``settings.json``, recovery tables, Q(t)
    figures, ``report.html``), whether to write the HTML report, and what the run keeps of every
    realisation (``keep`` of :func:`rescity.engine.runner.simulate`)."""

    dir: Optional[Path] = None
    report: bool = True
    keep_realisations: Literal["auto", "all", "summary"] = Field(
        "auto",
        description="per-unit values of every realisation: all (every unit), summary (province, "
        "prefectures and counties; streamed mean and quantile sketches for the cells), auto (all "
        "while they take at most 1 GiB)",
    )


class RunConfig(_Strict):
    """One scenario run: a typhoon (``sn`` or ``track_file``) or an earthquake (``quake``)."""

    name: str = ""
    # typhoon
    sn: Optional[str] = Field(
        None, description="storm in the packaged best tracks: CMA number (1909), JTWC number (201910) or name "
        "(Lekima, 'Haitang 2005'); with track_file, the id within the file"
    )
    track_source: Literal["cma", "jtwc"] = Field(
        "cma", description="packaged best track that sn is read from: CMA 1949-2024 (default) or JTWC 1945-2020"
    )
    track_file: Optional[Path] = Field(None, description="track file (JTWC, CMA, IBTrACS or generic CSV)")
    track_format: Literal["auto", "jtwc", "cma", "ibtracs", "generic"] = "auto"
    model: Literal["holland1980", "holland2008"] = "holland1980"
    dt_h: float = Field(1.0, gt=0, description="time step of the wind field, hours")
    hazards: tuple[str, ...] = Field(
        DEFAULT_TYPHOON_HAZARDS,
        description="typhoon hazards (rescity.hazard.registry)",
        json_schema_extra={"items": {"type": "string", "enum": list(TYPHOON_HAZARDS)}},
    )
    dem: Optional[Path] = Field(None, description="elevation GeoTIFF (m) for flood and surge")
    stations: Optional[Path] = Field(None, description="river stations CSV")
    # earthquake
    quake: Optional[EarthquakeScenario] = None
    # common
    twin: TwinSpec = Field(default_factory=TwinSpec)
    realisations: int = Field(DEFAULT_REALISATIONS, ge=1)
    seed: int = Field(DEFAULT_SEED, description="seed of every Monte Carlo stream")
    workers: int = Field(
        1, ge=1, description="worker processes (local pool, or the size of a local-dask cluster); results do not depend on it"
    )
    scheduler: Optional[str] = Field(
        None,
        description="where ensembles run: 'local' (in process or a local pool of workers), 'local-dask' (a Dask "
        "LocalCluster of workers processes) or a Dask scheduler address (tcp://host:8786); default: the "
        "RESCITY_SCHEDULER environment variable, else local. Results do not depend on it",
    )
    horizon_h: float = Field(12.0, ge=0, description="hours after the event at which service is evaluated")
    recovery: RecoverySpec = Field(default_factory=RecoverySpec)
    outputs: OutputSpec = Field(default_factory=OutputSpec)
    params: dict[str, float] = Field(default_factory=dict, description="calibration parameters")

    @field_validator("hazards", mode="before")
    @classmethod
    def _hazards(cls, v: Any) -> tuple[str, ...]:
        return parse_hazards(v)

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: Optional[str]) -> Optional[str]:
        return check_scheduler(v)

    @field_validator("track_source", mode="before")
    @classmethod
    def _track_source(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("quake", mode="before")
    @classmethod
    def _quake(cls, v: Any) -> Any:
        if isinstance(v, str):
            return EarthquakeScenario.from_text(v)
        return v

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, float]) -> dict[str, float]:
        for k in v:
            if k not in CALIBRATION_PARAMS:
                raise InputError(f"unknown calibration parameter; use {', '.join(CALIBRATION_PARAMS)}",
                                 field=f"params.{k}", value=k)
        return v

    @model_validator(mode="after")
    def _one_event(self) -> RunConfig:
        storm = self.sn is not None or self.track_file is not None
        if self.quake is not None and storm:
            raise InputError("a run is either a storm (sn/track_file) or an earthquake (quake)",
                             field="quake", value=_quake_text(self.quake))
        if self.quake is None and not storm:
            raise InputError("give a storm (sn or track_file) or an earthquake (quake)", field="sn")
        for name in ("track_file", "dem", "stations"):
            p = getattr(self, name)
            if p is not None and not Path(p).is_file():
                raise InputError("no such file", file=p, field=name)
        if self.recovery.file is not None and not Path(self.recovery.file).is_file():
            raise InputError("scenario file not found", file=self.recovery.file, field="recovery.file")
        return self

    # -- views ---------------------------------------------------------------------------------
    @property
    def is_quake(self) -> bool:
        return self.quake is not None

    @property
    def event_label(self) -> str:
        """A short name of the event: storm id / track file stem, or the mainshock."""
        if self.name:
            return self.name
        if self.quake is not None:
            return f"quake M{self.quake.mainshock.mw:g}"
        return f"typhoon {self.sn or Path(str(self.track_file)).stem}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (``settings.json``, the report)."""
        return self.model_dump(mode="json")

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def load(cls, data: Mapping[str, Any], file: Union[str, Path, None] = None, prefix: str = "") -> RunConfig:
        """Validate a mapping (an API job's ``config``, a parsed file); problems as one
        :class:`InputError` naming ``file`` and the field (dotted, after ``prefix``)."""
        if not isinstance(data, Mapping):
            raise InputError("a run configuration must be a table", file=file, field=prefix.rstrip(".") or None)
        try:
            return cls.model_validate(dict(data))
        except ValidationError as e:
            err = _located(e)
            raise InputError(err.message, file=file if err.file is None else err.file,
                             field=f"{prefix}{err.field}" if err.field else None, value=err.value) from None
        except InputError as e:
            raise InputError(e.message, file=file if e.file is None else e.file,
                             field=f"{prefix}{e.field}" if e.field else None, value=e.value) from None

    @classmethod
    def from_file(cls, path: Union[str, Path], **overrides: Any) -> RunConfig:
        """From a YAML (``.yaml``/``.yml``), TOML (``.toml``) or JSON (``.json``) file; keys of
        ``overrides`` (not ``None``) replace the file's."""
        data = read_mapping(path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.load(data, file=path)

    @classmethod
    def from_options(
        cls,
        *,
        sn: Optional[str] = None,
        source: str = "cma",
        track: Optional[Path] = None,
        fmt: str = "auto",
        model: str = "holland1980",
        hazards: Union[str, Sequence[str]] = DEFAULT_TYPHOON_HAZARDS,
        quake: Optional[str] = None,
        aftershocks: Sequence[str] = (),
        quake_event: Optional[Mapping[str, Any]] = None,
        vs30: Union[float, str, None] = None,
        dem: Optional[Path] = None,
        stations: Optional[Path] = None,
        twin: Optional[Path] = None,
        realisations: int = DEFAULT_REALISATIONS,
        seed: int = DEFAULT_SEED,
        twin_seed: int = DEFAULT_SEED,
        synthetic: bool = False,
        workers: int = 1,
        scheduler: Optional[str] = None,
        horizon_h: float = 12.0,
        recovery: bool = True,
        scenario: Optional[Path] = None,
        out: Optional[Path] = None,
        keep_realisations: str = "auto",
    ) -> RunConfig:
        """From the ``rescity run`` options (names as the options, errors name ``--option``).

        ``source``: the packaged best track of ``sn`` (``--source cma|jtwc``). ``quake_event``: the
        catalogue row (strike, dip, rake, mechanism, name) that completes ``--quake``.
        ``scenario``: a recovery scenario file."""
        data: dict[str, Any] = {
            "sn": sn, "track_source": source, "track_file": track, "track_format": fmt, "model": model, "hazards": hazards,
            "dem": dem, "stations": stations, "realisations": realisations, "seed": seed,
            "workers": workers, "scheduler": scheduler, "horizon_h": horizon_h,
            "twin": {"path": twin, "seed": twin_seed, "synthetic": synthetic},
            "recovery": {"enabled": recovery, "file": scenario},
            "outputs": {"dir": out, "keep_realisations": keep_realisations},
        }  # fmt: skip
        if aftershocks and quake is None:
            raise InputError("--aftershock needs --quake", field="--aftershock", value=aftershocks[0])
        if quake is not None:
            try:
                eq = EarthquakeScenario.from_text(quake, aftershocks, vs30=vs30)
                if quake_event:
                    eq = EarthquakeScenario.model_validate(
                        {**eq.model_dump(), "mainshock": {**_dump_source(eq.mainshock), **quake_event}}
                    )
            except ValidationError as e:
                raise _option_error(as_input_error(e)) from None
            except InputError as e:
                raise _option_error(e) from None
            data["quake"] = eq
        try:
            return cls.load({k: v for k, v in data.items() if v is not None})
        except InputError as e:
            raise _option_error(e) from None


#: Field of :class:`RunConfig` → the ``rescity run`` option that sets it.
OPTION_NAMES: dict[str, str] = {
    "sn": "--sn", "track_source": "--source", "track_file": "--track", "track_format": "--format", "model": "--model",
    "hazards": "--hazards", "dem": "--dem", "stations": "--stations", "realisations": "--realisations",
    "seed": "--seed", "workers": "--workers", "scheduler": "--scheduler", "horizon_h": "--horizon-h", "quake": "--quake",
    "source": "--quake", "twin.path": "--twin", "twin.seed": "--twin-seed", "twin.synthetic": "--synthetic", "recovery.file": "--scenario",
    "vs30": "--vs30", "mainshock": "--quake", "aftershocks": "--aftershock",
    "outputs.keep_realisations": "--keep-realisations",
}  # fmt: skip


def _located(e: ValidationError) -> InputError:
    """The first problem of a validation error with the dotted path of the field: an
    :class:`InputError` raised by a nested validator keeps its message and value, and its field
    is placed under the path (``quake`` + ``Mw`` → ``quake.Mw``)."""
    err = as_input_error(e)
    first = e.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ()))
    inner = (first.get("ctx") or {}).get("error")
    if not isinstance(inner, InputError) or not loc:
        return err
    f = err.field or ""
    field = f if f == loc or f.startswith(loc + ".") else (f"{loc}.{f}" if f else loc)
    return InputError(err.message, file=err.file, field=field, value=err.value)


def _option_error(e: InputError) -> InputError:
    f = e.field or ""
    name = OPTION_NAMES.get(f) or OPTION_NAMES.get(f.split(".")[0]) or (f or None)
    return InputError(e.message, file=e.file, field=name, value=e.value)


def _dump_source(src: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(src)


def _quake_text(eq: EarthquakeScenario) -> str:
    m = eq.mainshock
    return f"{m.lat:g},{m.lon:g},{m.depth_km:g},{m.mw:g}"


def read_mapping(path: Union[str, Path]) -> dict[str, Any]:
    """A YAML, TOML or JSON file's top-level table, read with the bounds of
    :func:`rescity.safeio.load_config` (size, encodings, YAML aliases and nesting)."""
    from rescity.safeio import load_config

    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", file=p)
    return load_config(p)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`RunConfig` (what ``rescity config schema`` prints)."""
    return RunConfig.model_json_schema()

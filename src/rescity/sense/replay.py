"""Replay a recording of sensor messages onto the broker (QoS 1).

A recording is JSON lines, optionally gzip-compressed: ``{"at": ISO time, "topic": sub-topic,
"payload": entity}`` (or ``"raw": text`` for a payload sent as is). Lines are published on
``<prefix>/entities/<topic>`` at ``(at − first at) / speed`` seconds after the start; ``speed``
0 publishes as fast as the broker takes them. Observation times are kept (the rules run on
event time), unless ``retime`` shifts every time by one constant so that the last message is
stamped with the moment the replay starts (the storm then appears to have just happened).
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescity.errors import InputError
from rescity.sense.alerts import format_time
from rescity.sense.ingest import DEFAULT_BROKER, DEFAULT_PREFIX, Broker, make_client, topics
from rescity.sense.ngsi import parse_time

_TIME_KEYS = ("observedAt", "dateObserved", "observationDateTime")


def packaged_recording() -> Path:
    """The packaged Lekima recording (:mod:`rescity.sense.recording`)."""
    from rescity.data import path as data_path

    return data_path("lekima_sensors.jsonl.gz")


def read_recording(path: str | Path) -> Iterator[dict[str, Any]]:
    """The lines of a recording, checked."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such recording", file=p)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise InputError(f"line {n} is not JSON: {e}", file=p) from None
            if not isinstance(rec, dict) or "at" not in rec or ("payload" not in rec and "raw" not in rec):
                raise InputError(f"line {n} needs 'at' and 'payload' (or 'raw')", file=p, field="at")
            try:
                rec["_t"] = parse_time(str(rec["at"]))[0]
            except Exception:  # noqa: BLE001
                raise InputError(f"line {n}: 'at' is not an ISO time with a zone", file=p, field="at", value=rec["at"]) from None
            yield rec


def _shift(obj: Any, dt: float) -> Any:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in _TIME_KEYS and isinstance(v, str):
                try:
                    out[k] = format_time(parse_time(v)[0] + dt)
                    continue
                except Exception:  # noqa: BLE001 - leave odd values as they are
                    pass
            out[k] = _shift(v, dt)
        return out
    if isinstance(obj, list):
        return [_shift(v, dt) for v in obj]
    return obj


def replay(
    path: str | Path,
    broker: str = DEFAULT_BROKER,
    *,
    speed: float = 60.0,
    prefix: str = DEFAULT_PREFIX,
    retime: bool = False,
    limit: int | None = None,
    client_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 120.0,
) -> dict[str, Any]:
    """Publish a recording; returns counts and the time taken. Waits until the broker has
    acknowledged every message (QoS 1)."""
    if speed < 0:
        raise InputError("speed must be ≥ 0 (0: as fast as possible)", field="speed", value=speed)
    recs = list(read_recording(path))
    if limit is not None:
        recs = recs[:limit]
    if not recs:
        return {"published": 0, "seconds": 0.0}
    b = Broker.parse(broker)
    client, props = make_client(b, client_id or f"rescity-replay-{uuid.uuid4().hex[:8]}", session=False)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked: set[int] = set()  # PUBACKs, also for messages queued while the connection was down
    client.on_publish = lambda c, u, mid, rc, props: acked.add(mid)
    connect(client, b, props, clean_start=True)
    base = topics(prefix)["entities_base"]
    t0 = recs[0]["_t"]
    shift = (time.time() - max(r["_t"] for r in recs)) if retime else 0.0
    start = time.monotonic()
    infos = []
    try:
        for i, r in enumerate(recs):
            if speed > 0:
                wait = (r["_t"] - t0) / speed - (time.monotonic() - start)
                if wait > 0:
                    time.sleep(wait)
            if "raw" in r:
                payload: Any = str(r["raw"])
            else:
                payload = json.dumps(_shift(r["payload"], shift) if retime else r["payload"], ensure_ascii=False)
            infos.append(client.publish(f"{base}/{r.get('topic') or 'entity'}", payload, qos=1))
            if progress is not None and (i % 500 == 0 or i == len(recs) - 1):
                progress(i + 1, len(recs))
        end = time.monotonic() + timeout_s
        for info in infos:
            left = end - time.monotonic()
            if left <= 0 or not _wait(info, acked, left):
                raise InputError(
                    f"the broker at {b.host}:{b.port} did not acknowledge every message within {timeout_s:.0f} s",
                    field="broker",
                )
    finally:
        client.disconnect()
        client.loop_stop()
    took = time.monotonic() - start
    return {
        "published": len(infos),
        "seconds": took,
        "rate": len(infos) / took if took > 0 else float("inf"),
        "first": format_time(t0 + shift),
        "last": format_time(recs[-1]["_t"] + shift),
        "started": datetime.now(UTC).isoformat(),
    }


def _wait(info: Any, acked: set[int], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while info.mid not in acked:
        if time.monotonic() > end:
            return False
        time.sleep(0.005)
    return True


def connect(client: Any, broker: Broker, props: Any, *, clean_start: bool, timeout_s: float = 10.0) -> None:
    """Connect in the background and wait for the broker's CONNACK; InputError if it never comes."""
    import threading

    ok, done = threading.Event(), threading.Event()
    refused: list[str] = []

    def on_connect(c, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            refused.append(str(reason_code))
        else:
            ok.set()
        done.set()

    def on_connect_fail(c, userdata):
        refused.append("the connection was refused")
        done.set()

    client.on_connect = on_connect
    client.on_connect_fail = on_connect_fail
    client.connect_async(broker.host, broker.port, keepalive=30, clean_start=clean_start, properties=props)
    client.loop_start()
    done.wait(timeout_s)
    if not ok.is_set():
        client.loop_stop()
        why = f"refused: {refused[0]}" if refused else f"no answer within {timeout_s:.0f} s"
        raise InputError(
            f"cannot reach the MQTT broker at {broker.host}:{broker.port} ({why}); is it running?",
            field="broker",
            value=f"mqtt://{broker.host}:{broker.port}",
        )

"""MQTT ingest: at-least-once delivery made exactly-once in the store.

The ingest is an MQTT 5 client (paho-mqtt) with a fixed client id, ``clean_start=False`` and a
session expiry (default 7 days), subscribed at QoS 1 to ``<prefix>/entities/#``. The broker keeps
the session while the ingest is down or restarting and queues what is published meanwhile. The
session is held by a receiver process (:mod:`rescity.sense.receiver`); validation, rules and the
store run in the ingest process, so the two use two cores.

Acknowledgement is manual: a message's PUBACK is sent only after the batch holding it has been
committed to the store, so an acknowledged message is durable; a message received but not
acknowledged (the process was killed, the connection dropped) is delivered again, and the
store's unique reading (sensor, quantity, time) keeps it once. Acknowledgements are only
sent on the connection that delivered the message (a message id may be reused on the next).

Batches: up to ``batch_max`` messages, or whatever arrived within ``batch_wait_s``, go into one
transaction (rows by ``executemany``). Alerts are published on ``<prefix>/alerts`` (QoS 1) from
an outbox in the store (alerts not yet published, also those raised through the HTTP API), and
each nowcast on ``<prefix>/nowcast/<twin>`` (QoS 1, retained).

A broker that queues for offline clients must not cap the queue (Mosquitto:
``max_queued_messages 0``, ``persistence true``), or it drops what exceeds the cap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from rescity.errors import InputError
from rescity.sense.nowcast import summary as nowcast_summary
from rescity.sense.processor import Processor
from rescity.store.base import StoreError
from rescity.twin.systems import get_system, service_systems

log = logging.getLogger("rescity.sense")

DEFAULT_BROKER = "mqtt://localhost:1883"
DEFAULT_PREFIX = "rescity"
SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Broker:
    """Where the broker is: ``mqtt://[user[:password]@]host[:port]`` (``mqtts://`` for TLS)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> Broker:
        p = urlsplit(url if "://" in url else f"mqtt://{url}")
        if p.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not p.hostname:
            raise InputError(
                "a broker URL looks like mqtt://host:1883 (or mqtts://host:8883)", field="broker", value=url
            )
        tls = p.scheme in ("mqtts", "ssl")
        try:
            port = p.port or (8883 if tls else 1883)
        except ValueError:
            raise InputError("the broker port must be a number", field="broker", value=url) from None
        return cls(
            p.hostname,
            port,
            unquote(p.username) if p.username else None,
            unquote(p.password) if p.password else None,
            tls,
        )


def topics(prefix: str = DEFAULT_PREFIX, twin: str = "zhejiang") -> dict[str, str]:
    """The topics of the sensing layer."""
    return {
        "entities": f"{prefix}/entities/#",
        "entities_base": f"{prefix}/entities",
        "alerts": f"{prefix}/alerts",
        "nowcast": f"{prefix}/nowcast/{twin}",
    }


def make_client(
    broker: Broker,
    client_id: str,
    *,
    manual_ack: bool = False,
    session: bool = True,
    receive_max: int | None = None,
    session_expiry_s: int = SESSION_EXPIRY_S,
):
    """A paho MQTT 5 client and its CONNECT properties (call ``connect_async`` with them)."""
    try:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise InputError("sensing needs paho-mqtt: pip install 'rescity[sense]'") from e
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack
    )
    if broker.username:
        c.username_pw_set(broker.username, broker.password)
    if broker.tls:
        c.tls_set()
    c.reconnect_delay_set(0.1, 2.0)
    props = Properties(PacketTypes.CONNECT)
    if session:
        props.SessionExpiryInterval = int(session_expiry_s)
    if receive_max:
        props.ReceiveMaximum = int(receive_max)
    return c, props


#: Broker statistics topic: publish messages the broker dropped because of its in-flight or queue
#: limits (Mosquitto ``$SYS`` hierarchy, published every ``sys_interval`` seconds).
SYS_DROPPED = "$SYS/broker/publish/messages/dropped"


class DropWatch:
    """Turns the broker's cumulative dropped-message counter into newly dropped counts.

    The first value seen is the baseline (drops before this ingest started); a smaller value
    than the last one means the broker restarted, and becomes the new baseline.
    """

    def __init__(self) -> None:
        self.last: int | None = None
        self.total = 0

    def update(self, payload: bytes | str) -> int:
        """Newly dropped messages since the last report (0 when none or unreadable)."""
        try:
            v = int(float(payload.decode() if isinstance(payload, bytes) else payload))
        except (ValueError, UnicodeDecodeError):
            return 0
        if self.last is None or v < self.last:
            self.last = v
            return 0
        new, self.last = v - self.last, v
        self.total += new
        return new


@dataclass
class Stats:
    broker_dropped: int = 0
    received: int = 0
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    alerts: int = 0
    published: int = 0
    nowcasts: int = 0
    batches: int = 0
    acked: int = 0
    reconnects: int = 0


class Ingest:
    """The ``rescity sense`` service: MQTT in, store and alerts out.

    Two processes: the receiver (:mod:`rescity.sense.receiver`) holds the MQTT session and
    acknowledges; this one validates, evaluates and commits, and publishes alerts and nowcasts
    with a second, session-less client (``<client id>-out``).

    Parameters
    ----------
    processor:
        Validation, rules and storage (:class:`rescity.sense.processor.Processor`).
    broker:
        Broker URL.
    client_id:
        Fixed MQTT client id: the broker keeps this id's session between runs.
    prefix:
        Topic prefix (:func:`topics`).
    batch_max, batch_wait_s:
        Largest batch; under load, how long to let a batch fill before it is written.
    receive_max:
        MQTT 5 Receive Maximum: unacknowledged messages the broker may send at once.
    nowcast:
        Run a nowcast after asset status changes.
    """

    def __init__(
        self,
        processor: Processor,
        broker: str = DEFAULT_BROKER,
        *,
        client_id: str = "rescity-sense",
        prefix: str = DEFAULT_PREFIX,
        batch_max: int = 2000,
        batch_wait_s: float = 0.05,
        receive_max: int = 20_000,
        session_expiry_s: int = SESSION_EXPIRY_S,
        nowcast: bool = True,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.processor = processor
        self.broker = Broker.parse(broker)
        self.client_id = client_id
        self.topics = topics(prefix, processor.twin)
        self.batch_max = int(batch_max)
        self.batch_wait_s = float(batch_wait_s)
        self.receive_max = int(receive_max)
        self.session_expiry_s = int(session_expiry_s)
        self.stats = Stats()
        self._connected = threading.Event()  # the receiver holds the session
        self._pending: dict[int, tuple[Any, str | None]] = {}  # alert id → (publish info, updated_at)
        self._acked: set[int] = set()
        self._nowcast_on = nowcast
        self._nowcast_wake = threading.Event()
        self._nowcast_t: float | None = None
        self._stop = threading.Event()
        self._say = on_status or (lambda s: log.info(s))
        self._proc: Any = None
        self._conn: Any = None
        self.out, props = make_client(self.broker, f"{client_id}-out", session=False)
        self._out_props = props
        self.out.max_inflight_messages_set(100)
        self.out.max_queued_messages_set(0)
        self.out.on_publish = lambda c, u, mid, rc, p: self._acked.add(mid)
        self.drops = DropWatch()
        self.out.on_connect = self._out_connected
        self.out.on_message = self._out_message

    # -- broker health -----------------------------------------------------------------------
    def _out_connected(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe(SYS_DROPPED, qos=0)  # brokers without $SYS simply never answer

    def _out_message(self, client, userdata, msg) -> None:
        if msg.topic != SYS_DROPPED:
            return
        new = self.drops.update(msg.payload)
        if new:
            self.stats.broker_dropped += new
            self._say(
                f"warning: the broker dropped {new:,} messages ({self.drops.total:,} since start) because of "
                "its queue limits; sensor readings were lost. Run Mosquitto with the shipped configuration "
                "(rescity sense broker-config: persistence, max_queued_messages 0)"
            )

    # -- the receiver process --------------------------------------------------------------
    def _start_receiver(self) -> None:
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        b = self.broker
        cfg = {
            "host": b.host,
            "port": b.port,
            "username": b.username,
            "password": b.password,
            "tls": b.tls,
            "client_id": self.client_id,
            "topic": self.topics["entities"],
            "receive_max": self.receive_max,
            "session_expiry_s": self.session_expiry_s,
            "batch_max": self.batch_max,
            "batch_wait_s": self.batch_wait_s,
            "max_outstanding": 4,
        }
        mine, theirs = socket.socketpair()
        fd = theirs.fileno()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "rescity.sense.receiver", str(fd), json.dumps(cfg)],
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn = Connection(mine.detach())

    def _stop_receiver(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, EOFError, ValueError):
                self._conn.send(("stop",))
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
                self._proc.terminate()
                self._proc.wait(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None
        self._connected.clear()

    # -- running ---------------------------------------------------------------------------
    def start(self) -> None:
        """Warm the rules from the store, start the receiver and the publishing client."""
        n = self.processor.warm()
        if n:
            self._say(f"rules warmed with {n} stored readings")
        self._start_receiver()
        b = self.broker
        self.out.connect_async(b.host, b.port, keepalive=30, clean_start=True, properties=self._out_props)
        self.out.loop_start()
        if self._nowcast_on:
            threading.Thread(target=self._nowcast_loop, name="rescity-nowcast", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._nowcast_wake.set()

    def run(self, *, status_every_s: float = 5.0, until: Callable[[Stats], bool] | None = None) -> Stats:
        """Process messages until :meth:`stop` (or ``until(stats)`` is true); returns the counts."""
        self.start()
        last_status = time.monotonic()
        last_outbox = 0.0
        counted = 0
        try:
            while not self._stop.is_set():
                try:
                    if self._conn.poll(0.25):
                        self._handle(self._conn.recv())
                except (EOFError, OSError):
                    if self._stop.is_set():
                        break
                    self._say("the receiver process ended; starting it again")
                    self._stop_receiver()
                    time.sleep(0.5)
                    self._start_receiver()
                    continue
                now = time.monotonic()
                if now - last_outbox > 1.0 or self._pending:
                    self._outbox()
                    last_outbox = now
                if now - last_status >= status_every_s:
                    rate = (self.stats.messages - counted) / (now - last_status)
                    counted, last_status = self.stats.messages, now
                    self._say(self.status_line(rate))
                if until is not None and until(self.stats):
                    break
        finally:
            self._stop.set()
            self._nowcast_wake.set()
            self._stop_receiver()
            self._outbox()
            self.out.disconnect()
            self.out.loop_stop()
        return self.stats

    def _handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "batch":
            self._batch(msg[1], msg[2])
        elif kind == "connected":
            self.stats.reconnects += 1
            self._connected.set()
            self._say(
                f"connected to {self.broker.host}:{self.broker.port} as {self.client_id} "
                f"(session {'resumed' if msg[1] else 'new'}), subscribed to {self.topics['entities']}"
            )
        elif kind == "disconnected":
            self._connected.clear()
            if not self._stop.is_set():
                self._say(f"disconnected ({msg[1]}); reconnecting")
        elif kind == "status":
            self._say(str(msg[1]))

    def status_line(self, rate: float | None = None) -> str:
        s = self.stats
        r = f"{rate:,.0f} msg/s, " if rate is not None else ""
        return (
            f"{r}{s.messages:,} messages, {s.stored:,} readings stored, {s.duplicates:,} duplicates, "
            f"{s.dead:,} dead letters, {s.alerts:,} alerts, {s.nowcasts} nowcasts"
            + (f", BROKER DROPPED {s.broker_dropped:,}" if s.broker_dropped else "")
        )

    def _batch(self, no: int, items: list[tuple[str, bytes]]) -> None:
        msgs = [(payload, topic, "mqtt") for topic, payload in items]
        self.stats.received += len(msgs)
        delay = 0.2
        while True:
            try:
                res = self.processor.process(msgs)
                break
            except (StoreError, OSError) as e:
                if self._stop.is_set():
                    return  # not acknowledged: the broker delivers it again
                self._say(f"store unavailable ({e}); retrying in {delay:.1f} s")
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception as e:  # noqa: BLE001 - a failing batch must not stop the ingest
                if _is_store_error(e):
                    if self._stop.is_set():
                        return
                    self._say(f"store busy ({e}); retrying")
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                log.error("batch failed: %s\n%s", e, traceback.format_exc())
                res = self._isolate(msgs)
                break
        with contextlib.suppress(OSError, EOFError, ValueError):
            self._conn.send(("ack", no))  # committed: the receiver may acknowledge
        s = self.stats
        s.batches += 1
        s.acked += len(msgs)
        s.messages += len(msgs)
        s.stored += res.stored
        s.duplicates += res.duplicates
        s.dead += res.dead
        s.alerts += len(res.alert_ids)
        if res.alert_ids or res.closed_ids:
            self._outbox()
        if res.status_changed and self._nowcast_on:
            t = res.status_t
            self._nowcast_t = t if self._nowcast_t is None or (t and t > self._nowcast_t) else self._nowcast_t
            self._nowcast_wake.set()

    def _isolate(self, msgs):
        """Process messages one by one after a failed batch; a message that fails alone is
        stored as a dead letter (reason ``internal``) so that it is not delivered forever."""
        from rescity.sense.processor import BatchResult

        total = BatchResult()
        for m in msgs:
            try:
                r = self.processor.process([m])
            except Exception as e:  # noqa: BLE001
                if _is_store_error(e):
                    raise
                from rescity.sense.ngsi import payload_text

                self.processor.store.sense_write(
                    dead=[
                        (
                            m[2],
                            m[1],
                            "internal",
                            f"{type(e).__name__}: {e}",
                            None,
                            None,
                            None,
                            payload_text(m[0]),
                        )
                    ],
                    actor=self.processor.actor,
                )
                total.dead += 1
                continue
            total.stored += r.stored
            total.duplicates += r.duplicates
            total.dead += r.dead
            total.alert_ids += r.alert_ids
            total.closed_ids += r.closed_ids
            total.status_changed |= r.status_changed
            if r.status_t is not None:
                total.status_t = max(total.status_t or r.status_t, r.status_t)
        return total

    # -- alert outbox ----------------------------------------------------------------------
    def _outbox(self) -> None:
        st = self.processor.store
        done = [(i, upd) for i, (info, upd) in self._pending.items() if info.mid in self._acked]
        if done:
            for i, _ in done:
                info, _ = self._pending.pop(i)
                self._acked.discard(info.mid)
            st.mark_published(done)
            self.stats.published += len(done)
        if not self.out.is_connected():
            return
        try:
            rows = st.unpublished_alerts()
        except Exception as e:  # noqa: BLE001 - the outbox is retried on the next round
            log.warning("alert outbox: %s", e)
            return
        for r in rows:
            if r["id"] in self._pending:
                continue
            info = self.out.publish(self.topics["alerts"], json.dumps(r["entity"], ensure_ascii=False), qos=1)
            self._pending[r["id"]] = (info, r.get("updated_at"))

    # -- nowcasts --------------------------------------------------------------------------
    def _nowcast_loop(self) -> None:
        while not self._stop.is_set():
            self._nowcast_wake.wait()
            if self._stop.is_set():
                return
            time.sleep(0.2)  # let a burst of status messages settle into one nowcast
            self._nowcast_wake.clear()
            try:
                nc = self.processor.nowcast(self._nowcast_t)
            except Exception as e:  # noqa: BLE001 - keep ingesting; the next change retries
                log.error("nowcast failed: %s\n%s", e, traceback.format_exc())
                continue
            if nc is None:
                continue
            self.stats.nowcasts += 1
            t = nc["totals"]
            lost = ", ".join(
                f"{get_system(sv).service.label_en} {t[f'no_{sv}']:,.0f}" for sv in service_systems() if f"no_{sv}" in t
            )
            self._say(
                f"nowcast {nc['id']}: {nc['down_assets']} assets down → {lost} people (horizon {nc['horizon_h']:.2f} h)"
            )
            self.out.publish(
                self.topics["nowcast"],
                json.dumps(nowcast_summary(nc), ensure_ascii=False, default=float),
                qos=1,
                retain=True,
            )


def _is_store_error(e: BaseException) -> bool:
    name = type(e).__name__
    return (
        name in ("OperationalError", "DatabaseError", "InterfaceError")
        and "locked" in str(e).lower()
        or (name in ("OperationalError", "InterfaceError") and type(e).__module__.startswith("psycopg"))
    )

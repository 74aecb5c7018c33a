"""The receiving half of the ingest, run in a process of its own.

It holds the MQTT 5 session (fixed client id, ``clean_start=False``, a session expiry, manual
acknowledgement), gathers incoming messages into batches, hands each batch to the ingest process
over a pipe, and acknowledges a batch's messages only when the ingest reports it committed. The
two processes run on two cores: MQTT parsing here, validation, rules and the store there.

If the ingest process goes away (even by ``kill -9``) the pipe closes and this process exits at
once without acknowledging anything more, so the broker delivers every unacknowledged message
again to the next ingest with the same client id.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sys
import threading
import time
from typing import Any


class _Stop(Exception):
    pass


def run_receiver(conn: Any, cfg: dict[str, Any]) -> None:
    """Process entry point. ``cfg``: host, port, username, password, tls, client_id, topic,
    receive_max, session_expiry_s, batch_max, batch_wait_s, max_outstanding."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the ingest process decides when to stop
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    send_lock = threading.Lock()

    def send(msg: tuple) -> None:
        try:
            with send_lock:
                conn.send(msg)
        except (OSError, EOFError, ValueError):
            os._exit(0)  # the ingest is gone: acknowledge nothing more

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cfg["client_id"], protocol=mqtt.MQTTv5, manual_ack=True)
    if cfg.get("username"):
        c.username_pw_set(cfg["username"], cfg.get("password"))
    if cfg.get("tls"):
        c.tls_set()
    c.reconnect_delay_set(0.1, 2.0)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = int(cfg["session_expiry_s"])
    props.ReceiveMaximum = int(cfg["receive_max"])
    inbox: collections.deque = collections.deque()
    gen = [0]
    lock = threading.Lock()

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            send(("status", f"broker refused the connection: {reason_code}"))
            return
        with lock:
            gen[0] += 1
        client.subscribe(cfg["topic"], qos=1)
        send(("connected", bool(flags.session_present)))

    def on_disconnect(client, userdata, flags, reason_code, properties):
        with lock:
            gen[0] += 1
        send(("disconnected", str(reason_code)))

    def on_message(client, userdata, msg):
        inbox.append((gen[0], msg.mid, msg.qos, msg.topic, msg.payload))

    c.on_connect, c.on_disconnect, c.on_message = on_connect, on_disconnect, on_message
    c.connect_async(cfg["host"], cfg["port"], keepalive=30, clean_start=False, properties=props)
    c.loop_start()

    pending: dict[int, list[tuple[int, int, int]]] = {}
    next_no = 0
    busy = False
    batch_max, batch_wait = int(cfg["batch_max"]), float(cfg["batch_wait_s"])
    try:
        while True:
            try:
                while conn.poll(0 if inbox else 0.02):
                    cmd = conn.recv()
                    if cmd[0] == "ack":
                        done = pending.pop(cmd[1], ())
                        with lock:
                            g = gen[0]
                            for bg, mid, qos in done:
                                if bg == g and qos > 0:  # only on the connection that delivered it
                                    c.ack(mid, qos)
                    elif cmd[0] == "stop":
                        raise _Stop
            except (EOFError, OSError):
                os._exit(0)
            if not inbox or len(pending) >= int(cfg.get("max_outstanding", 4)):
                continue
            if busy and len(inbox) < batch_max and batch_wait > 0:
                time.sleep(batch_wait)  # under load, let the batch fill
            items = []
            while inbox and len(items) < batch_max:
                items.append(inbox.popleft())
            busy = len(items) >= 100
            pending[next_no] = [(g, mid, qos) for g, mid, qos, _, _ in items]
            send(("batch", next_no, [(topic, payload) for _, _, _, topic, payload in items]))
            next_no += 1
    except _Stop:
        pass
    finally:
        c.disconnect()
        c.loop_stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m rescity.sense.receiver FD CONFIG_JSON``: run on an inherited socket."""
    from multiprocessing.connection import Connection

    args = sys.argv[1:] if argv is None else argv
    run_receiver(Connection(int(args[0])), json.loads(args[1]))


if __name__ == "__main__":
    main()

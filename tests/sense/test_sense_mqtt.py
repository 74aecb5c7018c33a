"""MQTT end to end with a real Mosquitto: delivery survives a broker restart and a kill -9 of
the ingest; alerts and nowcasts are published.

Each test runs against a private Mosquitto on a free loopback port (persistence on, no queue
cap), so it can stop and restart the broker without disturbing anyone; one test checks the
shared broker on localhost:1883.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from _sense_support import Mosquitto, free_port, tiny_twin, unique
from rescity.sense.alerts import format_time
from rescity.sense.ngsi import device_entity, parse_time, water_entity, weather_entity
from rescity.store import open_store

pytestmark = pytest.mark.services
mqtt = pytest.importorskip("paho.mqtt.client", reason="the sensing tests need paho-mqtt (pip install 'rescity[sense]')")

T0 = parse_time("2019-08-09T00:00:00Z")[0]


@pytest.fixture
def broker(tmp_path_factory):
    b = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    if b.exe is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def store_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'rescity.db'}"
    st = open_store(url)
    st.put_twin("tiny", tiny_twin())
    st.close()
    return url


def stream(n: int) -> tuple[list[str], int]:
    """``n`` distinct messages (weather: 3 readings, water: 1) and the readings they hold."""
    out, readings = [], 0
    for i in range(n):
        t = format_time(T0 + 600 * (i // 2))
        if i % 2 == 0:
            e = weather_entity("W331082", t, rain_mm=0.1 * (i % 7), wind_ms=3 + 0.01 * (i % 13), gust_ms=5 + 0.01 * (i % 11))
            readings += 3
        else:
            e = water_entity("H331082", t, 20.0 + 0.001 * (i % 17))
            readings += 1
        out.append(json.dumps(e))
    return out, readings


def client(broker, name):
    """A paho client; ``c.acked`` holds the ids of the messages the broker acknowledged (PUBACK)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique(name), protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(200)
    c.max_queued_messages_set(0)
    c.reconnect_delay_set(0.05, 0.5)
    c.acked = set()
    c.on_publish = lambda cl, u, mid, rc, props: c.acked.add(mid)
    c.connect(*broker_addr(broker))
    c.loop_start()
    return c


def all_acked(c, infos) -> bool:
    return all(i.mid in c.acked for i in infos)


def broker_addr(broker):
    return "127.0.0.1", broker.port


def count(url) -> tuple[int, int]:
    """Stored readings and distinct (sensor, quantity, time) among them."""
    c = sqlite3.connect(url[len("sqlite:///"):])
    try:
        n = c.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
        d = c.execute("SELECT COUNT(*) FROM (SELECT DISTINCT sensor_id, quantity, observed_at FROM observations)").fetchone()[0]
        return n, d
    finally:
        c.close()


def wait_for(pred, timeout=60.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def start_ingest(store_url, broker, prefix, client_id, **kw):
    from rescity.sense.ingest import Ingest
    from rescity.sense.processor import Processor

    st = open_store(store_url)
    lines: list[str] = []
    ing = Ingest(Processor(st, "tiny"), broker.url, client_id=client_id, prefix=prefix, on_status=lines.append, **kw)
    th = threading.Thread(target=ing.run, kwargs={"status_every_s": 60}, daemon=True)
    th.start()
    assert ing._connected.wait(20), lines
    return ing, th, st, lines


def stop_ingest(ing, th, st):
    ing.stop()
    th.join(20)
    st.close()


def test_ingest_stores_readings_publishes_alerts_and_a_nowcast(broker, store_url):
    prefix = unique("t1")
    alerts, nowcasts = [], []
    sub = client(broker, "sub")
    sub.on_message = lambda c, u, m: (alerts if m.topic.endswith("/alerts") else nowcasts).append(json.loads(m.payload))
    sub.subscribe([(f"{prefix}/alerts", 1), (f"{prefix}/nowcast/#", 1)])
    ing, th, st, lines = start_ingest(store_url, broker, prefix, unique("sense"))
    try:
        pub = client(broker, "pub")
        for i in range(3):  # typhoon orange at Linhai: mean wind 26 m/s (force 10), two reports
            e = weather_entity("W331082", format_time(T0 + 600 * i), wind_ms=26.0, gust_ms=30.0)
            pub.publish(f"{prefix}/entities/WeatherObserved/W331082", json.dumps(e), qos=1)
        pub.publish(f"{prefix}/entities/Device/x", json.dumps(device_entity("x", "S1", "down", format_time(T0))), qos=1)
        pub.publish(f"{prefix}/entities/x", b"{oops", qos=1)
        assert wait_for(lambda: alerts and nowcasts, 90), lines  # a nowcast runs the engine: slow on a loaded machine
        a = alerts[0]
        assert a["type"] == "Alert" and a["id"].startswith("urn:ngsi-ld:Alert:")
        assert a["severity"]["value"] == "high" and a["category"]["value"] == "weather"
        assert a["subCategory"]["value"] == "tropicalCyclone"
        assert a["alertSource"]["value"] == "urn:ngsi-ld:WeatherObserved:W331082"
        text = a["description"]["languageMap"]
        assert "台风橙色预警" in text["zh"] and "typhoon orange warning" in text["en"]
        assert a["location"]["value"]["type"] == "Point"
        nc = nowcasts[-1]
        assert nc["twin"] == "tiny" and nc["totals"]["no_power"] == 1000  # cell c1 behind S1
        assert wait_for(lambda: st.list_dead_letters()[1] == 1, 10)
        assert st.list_dead_letters()[0][0]["reason"] == "bad_json"
        assert wait_for(lambda: not st.unpublished_alerts(), 10)  # the outbox marked it
        pub.loop_stop()
    finally:
        sub.loop_stop()
        stop_ingest(ing, th, st)


def test_broker_restart_during_a_stream_loses_nothing(broker, store_url):
    prefix = unique("t2")
    msgs, readings = stream(3000)
    ing, th, st, lines = start_ingest(store_url, broker, prefix, unique("sense"), batch_max=200)
    try:
        pub = client(broker, "pub")
        infos = []

        def publisher():
            for i, m in enumerate(msgs):
                infos.append(pub.publish(f"{prefix}/entities/x", m, qos=1))
                if i % 50 == 49:
                    time.sleep(0.02)  # about 2,500 messages/s: the restart lands mid-stream

        t = threading.Thread(target=publisher)
        t.start()
        assert wait_for(lambda: len(infos) > 800, 20)
        broker.stop()  # graceful: Mosquitto saves sessions and queued messages
        stored_during = count(store_url)[0]
        time.sleep(0.5)
        broker.start()
        t.join(60)
        assert wait_for(lambda: all_acked(pub, infos), 60), "the broker never acknowledged some messages"
        assert wait_for(lambda: count(store_url)[0] >= readings, 60), (count(store_url), readings, lines[-5:])
        time.sleep(0.5)  # anything delivered twice would land now
        n, distinct = count(store_url)
        assert n == readings == distinct, (n, distinct, readings)
        assert 0 < stored_during < readings  # the restart really happened mid-stream
        assert ing.stats.reconnects >= 2  # connected again after the restart,
        assert any("session resumed" in x for x in lines), lines  # to the session the broker kept
        pub.loop_stop()
    finally:
        stop_ingest(ing, th, st)


def _sense_cmd(store_url, broker, prefix, client_id):
    return [
        sys.executable, "-c", "from rescity.cli import main; main()", "sense", "--store", store_url, "--twin", "tiny",
        "--broker", broker.url, "--prefix", prefix, "--client-id", client_id, "--batch", "200", "--status-every", "60",
    ]


def _spawn(cmd, env):
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines: list[str] = []
    ready = threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line.rstrip())
            if "subscribed to" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, ready


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_of_the_ingest_loses_nothing_acknowledged(broker, store_url, tmp_path):
    prefix, cid = unique("t3"), unique("sense")
    env = {**os.environ, "RESCITY_HOME": str(tmp_path)}
    proc, lines, ready = _spawn(_sense_cmd(store_url, broker, prefix, cid), env)
    try:
        assert ready.wait(60), lines
        msgs, readings = stream(8000)
        pub = client(broker, "pub")
        infos = [pub.publish(f"{prefix}/entities/x", m, qos=1) for m in msgs]
        assert wait_for(lambda: count(store_url)[0] >= readings // 10, 60), lines
        receivers = _children(proc.pid)
        assert receivers, "the ingest runs its MQTT receiver in a child process"
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream, with messages received but not yet acknowledged
        proc.wait(10)
        # the receiver notices at once and leaves, acknowledging nothing more
        assert wait_for(lambda: not any(_alive(c) for c in receivers), 10)
        at_kill = count(store_url)[0]
        assert at_kill < readings, "the stream finished before the kill; make it longer"
        assert wait_for(lambda: all_acked(pub, infos), 60)
        pub.loop_stop()
        proc, lines2, ready = _spawn(_sense_cmd(store_url, broker, prefix, cid), env)
        assert ready.wait(60), lines2
        assert any("session resumed" in x for x in lines2), lines2
        assert wait_for(lambda: count(store_url)[0] >= readings, 60), (count(store_url), readings)
        time.sleep(0.5)
        n, distinct = count(store_url)
        assert n == readings == distinct, (n, distinct, readings, at_kill)
        c = sqlite3.connect(store_url[len("sqlite:///"):])
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        c.close()
        proc.send_signal(signal.SIGTERM)  # a clean stop: the batch in hand is finished first
        assert proc.wait(20) == 0
        assert wait_for(lambda: lines2 and lines2[-1].startswith("stopped:"), 5), lines2[-3:]
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)


def test_replay_publishes_a_recording(broker, tmp_path):
    from typer.testing import CliRunner

    from rescity.cli import app

    prefix = unique("t4")
    got = []
    sub = client(broker, "sub")
    sub.on_message = lambda c, u, m: got.append(m.topic)
    sub.subscribe(f"{prefix}/entities/#", qos=1)
    time.sleep(0.2)
    rec = tmp_path / "rec.jsonl"
    lines = [
        {"at": format_time(T0 + 600 * i), "topic": "WaterObserved/H331082", "payload": water_entity("H331082", format_time(T0 + 600 * i), 20.0 + i)}
        for i in range(40)
    ]
    lines.append({"at": format_time(T0 + 600 * 40), "topic": "WeatherObserved/W1", "raw": "{not json"})
    rec.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    r = CliRunner().invoke(app, ["sense", "replay", str(rec), "--speed", "0", "--broker", broker.url, "--prefix", prefix])
    assert r.exit_code == 0, r.output
    assert "published 41 messages" in r.stdout
    assert wait_for(lambda: len(got) == 41, 20)
    assert got[0] == f"{prefix}/entities/WaterObserved/H331082"
    sub.loop_stop()

    from rescity.cli import main

    with pytest.raises(SystemExit) as e:
        main(["sense", "replay", str(rec), "--broker", f"mqtt://127.0.0.1:{free_port()}", "--speed", "0"])
    assert e.value.code == 2


def test_the_shared_broker_on_localhost_1883(store_url):
    """The ingest against the machine's Mosquitto (started if down), with topics of its own."""
    def up():
        try:
            socket.create_connection(("127.0.0.1", 1883), timeout=0.5).close()
            return True
        except OSError:
            return False

    if not up():
        subprocess.run(["mosquitto", "-d", "-c", "/etc/mosquitto/mosquitto.conf"], capture_output=True, timeout=10)
        if not wait_for(up, 5):
            pytest.skip("no Mosquitto on localhost:1883 and it could not be started")

    class Shared:
        port = 1883
        url = "mqtt://localhost:1883"

    prefix = unique("rescity-test")
    msgs, readings = stream(40)
    # a short session expiry: the shared broker forgets this test's session soon after
    ing, th, st, lines = start_ingest(store_url, Shared, prefix, unique("rescity-test-sense"), session_expiry_s=30)
    try:
        pub = client(Shared, "rescity-test-pub")
        infos = [pub.publish(f"{prefix}/entities/x", m, qos=1) for m in msgs]
        # generous waits: a loaded machine delays the ingest thread, not the result
        assert wait_for(lambda: all_acked(pub, infos), 60)
        assert wait_for(lambda: count(store_url)[0] == readings, 60), lines
        pub.loop_stop()
    finally:
        stop_ingest(ing, th, st)

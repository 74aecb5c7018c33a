"""Killing only the receiver child of ``rescity sense`` loses nothing and makes no dead letters."""

from __future__ import annotations

import os
import signal
import threading
import time

from test_sense_mqtt import (  # noqa: F401 - fixtures
    all_acked,
    broker,
    client,
    count,
    start_ingest,
    stop_ingest,
    store_url,
    stream,
    unique,
    wait_for,
)


def test_killing_the_receiver_keeps_every_message_valid(broker, store_url):  # noqa: F811
    prefix = unique("t3")
    msgs, readings = stream(2000)
    ing, th, st, lines = start_ingest(store_url, broker, prefix, unique("sense"), batch_max=200)
    try:
        pub = client(broker, "pub")
        infos = []

        def publisher():
            for i, m in enumerate(msgs):
                infos.append(pub.publish(f"{prefix}/entities/x", m, qos=1))
                if i % 50 == 49:
                    time.sleep(0.02)

        t = threading.Thread(target=publisher)
        t.start()
        assert wait_for(lambda: len(infos) > 600, 20)
        os.kill(ing._proc.pid, signal.SIGKILL)  # only the receiver child
        t.join(60)
        assert wait_for(lambda: all_acked(pub, infos), 60)
        assert wait_for(lambda: count(store_url)[0] >= readings, 60), (count(store_url), readings, lines[-5:])
        time.sleep(0.5)
        n, distinct = count(store_url)
        assert n == readings == distinct, (n, distinct, readings)
        assert st.list_dead_letters()[1] == 0, st.list_dead_letters()[0][:3]
        assert any("receiver process ended" in ln for ln in lines)
        pub.loop_stop()
    finally:
        stop_ingest(ing, th, st)

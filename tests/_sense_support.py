"""Support for the sensing tests: a tiny twin with hand-checkable outages, a private Mosquitto."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pandas as pd

from rescity.twin.model import Twin, conform

# cells: c1 1000 people, c2 500 people (Linhai county, Taizhou)
UNITS = pd.DataFrame(
    {
        "unit_id": ["330000", "331000", "331082", "331082-c1", "331082-c2"],
        "level": ["province", "prefecture", "county", "cell", "cell"],
        "parent_id": ["", "330000", "331000", "331082", "331082"],
        "name_zh": ["浙江省", "台州市", "临海市", "", ""],
        "name_en": ["Zhejiang", "Taizhou", "Linhai", "", ""],
        "population": [1500, 1500, 1500, 1000, 500],
        "households": [600, 600, 600, 400, 200],
        "lon": [120.5, 121.2, 121.1, 121.10, 121.15],
        "lat": [29.0, 28.7, 28.9, 28.85, 28.95],
    }
)


def tiny_twin() -> Twin:
    """Power: plant P0 feeds substations S1 (cell c1) and S2 (cell c2). Telecom: core T0 → base
    station B1 (serves both cells; battery 4 h on S1). Water: works W0 (serves c2) and pump U1
    (serves c1; no backup on S1)."""
    assets = pd.DataFrame(
        {
            "asset_id": ["P0", "S1", "S2", "T0", "B1", "W0", "U1"],
            "system": ["power", "power", "power", "telecom", "telecom", "water", "water"],
            "kind": [
                "power_plant", "substation_110kv", "substation_110kv", "core_node", "base_station",
                "treatment_plant", "pump_station",
            ],
            "lon": [121.1, 121.1, 121.15, 121.1, 121.1, 121.15, 121.1],
            "lat": [28.85, 28.86, 28.95, 28.85, 28.86, 28.95, 28.84],
            "unit_id": ["331082-c1", "331082-c1", "331082-c2", "331082-c1", "331082-c1", "331082-c2", "331082-c1"],
            "is_source": [True, False, False, True, False, True, False],
            "name": ["", "临海变 Linhai substation", "", "", "", "", ""],
        }
    )
    edges = pd.DataFrame({"system": ["power", "power", "telecom", "water"], "src": [0, 0, 3, 5], "dst": [1, 2, 4, 6]})
    deps = pd.DataFrame({"dependent": [4, 6], "supplier": [1, 1], "kind": ["power", "power"], "buffer_h": [4.0, 0.0]})
    service = pd.DataFrame(
        {
            "terminal": [1, 2, 4, 4, 6, 5],
            "unit": [3, 4, 3, 4, 3, 4],
            "system": ["power", "power", "telecom", "telecom", "water", "water"],
            "people": [1000.0, 500.0, 1000.0, 500.0, 1000.0, 500.0],
        }
    )
    return Twin(
        units=conform(UNITS, "units"),
        assets=conform(assets, "assets"),
        edges=conform(edges, "edges"),
        dependencies=conform(deps, "dependencies"),
        service=conform(service, "service"),
        meta={"name": "tiny", "builder": "tests"},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A private Mosquitto broker (persistence on, no queue cap) that tests may stop and restart."""

    def __init__(self, folder: Path) -> None:
        self.exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.conf = folder / "mosquitto.conf"
        # Started as root, Mosquitto drops to the 'mosquitto' user, which cannot write here: keep root
        as_root = "user root\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nmax_queued_messages 0\nautosave_interval 1\n"
            f"log_dest file {folder}/mosquitto.log\n{as_root}"
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.025)
        raise RuntimeError(f"mosquitto did not start: {(self.folder / 'mosquitto.log').read_text(errors='replace')[-500:]}")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM: the broker writes its persistence file)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)
        self.proc = None


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"

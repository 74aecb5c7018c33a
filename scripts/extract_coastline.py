"""Extract the Zhejiang-region coastline from Natural Earth 1:10m land (world-atlas TopoJSON).

Usage: python scripts/extract_coastline.py land-10m.json src/rescity/data/coastline_zhejiang.csv

``land-10m.json`` is from the npm package ``world-atlas`` 2.0.2 (Natural Earth 4.1.0 land
boundaries, 1:10m, public domain). Every arc point inside the box lon 117.5–125, lat 26.0–32.5
is written as ``segment, lon, lat`` (a new segment wherever the line leaves the box).
"""

from __future__ import annotations

import csv
import json
import sys

BOX = (117.5, 26.0, 125.0, 32.5)


def main(src: str, dst: str) -> None:
    topo = json.load(open(src, encoding="utf-8"))
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    seg, rows = 0, []
    for arc in topo["arcs"]:
        x = y = 0
        inside_prev = False
        for dx, dy in arc:
            x += dx
            y += dy
            lon, lat = x * sx + tx, y * sy + ty
            inside = BOX[0] <= lon <= BOX[2] and BOX[1] <= lat <= BOX[3]
            if inside:
                if not inside_prev:
                    seg += 1
                rows.append((seg, round(lon, 5), round(lat, 5)))
            inside_prev = inside
    with open(dst, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["segment", "lon", "lat"])
        w.writerows(rows)
    print(f"{len(rows)} points in {seg} segments")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

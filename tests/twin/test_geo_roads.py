"""One geodesy (rescity.geo) and one road graph (rescity.twin.roads), checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rescity import geo
from rescity.twin import roads


def test_one_degree_of_arc_and_the_haversine():
    assert geo.KM_PER_DEG == pytest.approx(math.pi * 6371.0 / 180.0, rel=1e-15)
    assert geo.haversine_km(30.0, 120.0, 31.0, 120.0) == pytest.approx(111.19492664, rel=1e-9)
    # along a parallel at 60° N the small-arc distance is R·Δλ·cos φ (within 1e-4 for 0.1°)
    assert geo.haversine_km(60.0, 0.0, 60.0, 0.1) == pytest.approx(6371.0 * math.radians(0.1) * 0.5, rel=1e-4)


def test_sphere_against_the_wgs84_ellipsoid_within_half_a_percent():
    # Hangzhou (120.16 E, 30.27 N) to Ningbo (121.55 E, 29.87 N) and to Wenzhou (120.70 E, 28.00 N)
    lat2, lon2 = np.array([29.87, 28.00]), np.array([121.55, 120.70])
    s = geo.haversine_km(30.27, 120.16, lat2, lon2)
    e = geo.geodesic_km(30.27, 120.16, lat2, lon2)
    assert 130 < s[0] < 145 and 255 < s[1] < 265
    np.testing.assert_allclose(s, e, rtol=5e-3)


def test_chord_and_projection_round_trips():
    d = np.array([0.0, 1.0, 250.0, 5000.0])
    np.testing.assert_allclose(geo.chord_to_km([geo.km_to_chord(x) for x in d]), d, rtol=1e-12, atol=1e-9)
    u = geo.unit_vectors([120.0, 121.0], [30.0, 30.5])
    chord = np.linalg.norm(u[0] - u[1])
    assert geo.chord_to_km(chord) == pytest.approx(geo.haversine_km(30.0, 120.0, 30.5, 121.0), rel=1e-9)
    xy = geo.local_xy_km([120.3], [29.9], 30.0, 120.0) - [0.0, 30.0 * geo.KM_PER_DEG]
    lon, lat = geo.lonlat_from_local_km(xy[:, 0], xy[:, 1], 120.0, 30.0)
    np.testing.assert_allclose([lon[0], lat[0]], [120.3, 29.9], atol=1e-12)
    # the projection is good to < 0.5 % over 30 km
    assert np.hypot(*xy[0]) == pytest.approx(geo.haversine_km(30.0, 120.0, 29.9, 120.3), rel=5e-3)


def test_access_legs_use_the_one_speed():
    assert roads.ACCESS_SPEED_KMH == 15.0 and roads.DETOUR == 1.3
    # 10 km straight: 13 km travelled at 15 km/h = 52 min
    assert roads.access_minutes(10.0) == pytest.approx(52.0)


def test_decisions_and_recovery_share_the_graph():
    from rescity.decide import network as net
    from rescity.engine import recovery as rec
    from rescity.twin.toy import toy_twin

    t = toy_twin()
    g, idx, node_min = net.road_graph(t)
    rg = roads.road_graph(t, net.SPEED_KMH)
    assert (g != rg.graph).nnz == 0 and (idx == rg.road_idx).all()
    # a 6-km local road takes 60·6/30 = 12 min at evacuation speed, 60·6/25 = 14.4 min for crews
    k = t.assets["kind"].to_numpy()[idx]
    ln = t.assets["length_km"].to_numpy()[idx]
    sel = (k == "local_road") & (ln == 6.0)
    assert sel.any()
    np.testing.assert_allclose(node_min[sel], 12.0)
    crew = roads.road_graph(t, rec.CREW_SPEED_KMH)
    np.testing.assert_allclose(crew.node_min[sel], 14.4)
    # an edge weighs half of each end node's crossing time (junctions: 0 min)
    i = np.flatnonzero(sel)[0]
    row = crew.graph.getrow(i)
    np.testing.assert_allclose(row.data, 0.5 * (crew.node_min[i] + crew.node_min[row.indices]) + 1e-6)

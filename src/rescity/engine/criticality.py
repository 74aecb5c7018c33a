"""Single-asset failures (N-1) through the cascade, for every asset at once.

For each asset ``x`` of the twin, :func:`n_minus_1` finds the set ``F(x)`` of assets that are not
functional when ``x`` alone fails and everything else is intact — in its own network and, through
dependencies, in the others — exactly as :func:`rescity.engine.cascade.functional` would with
only ``x`` damaged, but without one cascade run per asset.

Method
------
*Dominators.* In one system's graph, with a root joined to every source, the assets that lose
their source when ``x`` fails are those that ``x`` *dominates*: every root path passes ``x``.
In an undirected graph these follow from one depth-first search (Tarjan 1972, *SIAM J. Comput.*
1:146–160): with ``disc`` the preorder number and ``low(c)`` the smallest ``disc`` reachable from
the subtree of ``c`` by one edge, the subtree of a tree child ``c`` of ``x`` is cut off by ``x``
exactly when ``low(c) ≥ disc(x)``. The depth-first search is ``scipy.sparse.csgraph``'s; subtree
extents, ``low`` (a range minimum over the preorder) and the immediate dominator of every node
(the parent of its deepest cut ancestor) are vectorised with sparse tables and pointer jumping.
``D(x)`` is then the subtree of ``x`` in the dominator tree.

*Cascade.* A dependent fails when, for a supplier kind without a lasting buffer
(``buffer_h < horizon``), all its suppliers of that kind are in the failed set. Starting from
``F = D(x)``, failed dependents are added with their own dominated sets until nothing changes.
The union of dominated sets is the exact failed set when, per system, at most one of the failure
*roots* lies in the system's 2-core (the graph left after repeatedly stripping degree-one nodes):
a failure in a pendant tree cuts off only its own subtree. Where two or more core nodes of one
system fail together (e.g. a substation feeding two looped pumping stations), that system's
reachability is recomputed on its 2-core for those cases only.

Baseline: assets that are not functional in the intact twin are left out (they cannot be lost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, depth_first_order

from rescity.engine.cascade import CascadeModel, SystemGraph, functional


@dataclass
class SystemDominators:
    """Dominator tree and 2-core of one system's network (local node numbering)."""

    system: str
    nodes: np.ndarray  # global asset positions (the SystemGraph's nodes)
    alive: np.ndarray  # bool: functional in the intact twin
    idom: np.ndarray  # local immediate dominator; -1 = the root (sources' super-node)
    core: np.ndarray  # bool: in the 2-core
    attach: np.ndarray  # local core node a pendant node's tree hangs from (-1 = root); core: itself
    core_indptr: np.ndarray  # core graph (local numbering, root = m), CSR
    core_indices: np.ndarray


def _sparse_table_min(a: np.ndarray) -> list[np.ndarray]:
    """Levels ``st[k][i] = min(a[i : i + 2**k])`` (a padded with its last value's fill)."""
    st = [a]
    k = 1
    n = len(a)
    while (1 << k) <= n:
        prev = st[-1]
        half = 1 << (k - 1)
        nxt = prev.copy()
        nxt[: n - half] = np.minimum(prev[: n - half], prev[half:])
        st.append(nxt)
        k += 1
    return st


def _range_min(st: list[np.ndarray], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``min(a[lo:hi])`` for ``hi > lo`` (vectorised)."""
    length = hi - lo
    k = np.floor(np.log2(np.maximum(length, 1))).astype(np.int64)
    out = np.empty(len(lo), dtype=st[0].dtype)
    for kk in np.unique(k):
        sel = k == kk
        t = st[kk]
        out[sel] = np.minimum(t[lo[sel]], t[hi[sel] - (1 << kk)])
    return out


def _next_not_deeper(depth: np.ndarray) -> np.ndarray:
    """For each preorder position ``i`` the first ``j > i`` with ``depth[j] ≤ depth[i]`` (or n)."""
    n = len(depth)
    if n == 0:
        return np.zeros(0, np.int64)
    levels = int(np.ceil(np.log2(n + 1))) + 1
    pad = np.r_[depth, np.full((1 << levels) + 1, -1, depth.dtype)]
    st = _sparse_table_min(pad)
    pos = np.arange(1, n + 1)
    for k in range(len(st) - 1, -1, -1):
        t = st[k]
        ok = pos + (1 << k) <= len(pad)
        jump = np.zeros(n, bool)
        jump[ok] = t[pos[ok]] > depth[ok]
        pos = np.where(jump, pos + (1 << k), pos)
    return np.minimum(pos, n)


def _jump_to_fixed(f: np.ndarray) -> np.ndarray:
    """Follow ``f`` from every node to its fixed point (pointer jumping)."""
    f = f.copy()
    while True:
        ff = f[f]
        if np.array_equal(ff, f):
            return f
        f = ff


def system_dominators(g: SystemGraph, alive: np.ndarray) -> SystemDominators:
    """Dominator tree of one system from its sources, over the assets alive in the intact twin."""
    m = g.m
    root = m
    keep = alive[g.rows] & alive[g.indices]
    src = g.sources[alive[g.sources]]
    r = np.r_[g.rows[keep].astype(np.int64), src, np.full(len(src), root)]
    c = np.r_[g.indices[keep].astype(np.int64), np.full(len(src), root), src]
    h = sp.csr_matrix((np.ones(len(r), np.int8), (r, c)), shape=(m + 1, m + 1))
    h.sum_duplicates()
    order, pred = depth_first_order(h, root, directed=True, return_predecessors=True)
    order = order.astype(np.int64)
    pred = pred.astype(np.int64)
    nn = m + 1
    reached = np.zeros(nn, bool)
    reached[order] = True
    disc = np.full(nn, -1, np.int64)
    disc[order] = np.arange(len(order))
    parent = np.where(pred >= 0, pred, np.arange(nn))
    parent[root] = root
    depth = _depths(parent, root, reached)
    dep_pre = depth[order]
    end_pre = _next_not_deeper(dep_pre)  # preorder end (exclusive) of each subtree
    end = np.zeros(nn, np.int64)
    end[order] = end_pre
    # m0: smallest disc among the node and its neighbours
    rows = np.repeat(np.arange(nn), np.diff(h.indptr))
    m0 = disc.copy()
    if h.nnz:
        nd = disc[h.indices]
        np.minimum.at(m0, rows, nd)
    st = _sparse_table_min(m0[order])
    low = np.full(nn, np.iinfo(np.int64).max)
    low[order] = _range_min(st, disc[order], end[order])
    # c is cut off by its parent x when low(c) ≥ disc(x); the root never fails
    cut = np.zeros(nn, bool)
    nonroot = reached & (np.arange(nn) != root) & (parent != root)
    cut[nonroot] = low[nonroot] >= disc[parent[nonroot]]
    f = np.where(cut | (np.arange(nn) == root) | ~reached, np.arange(nn), parent)
    star = _jump_to_fixed(f)
    idom = np.where(star == root, root, parent[star])
    idom = np.where(reached, idom, -1)
    idom[idom == root] = -1
    idom = idom[:m]
    # 2-core by peeling degree-one nodes (the root is never peeled)
    alive_n = np.r_[alive, True]
    deg = np.bincount(rows[alive_n[rows] & alive_n[h.indices]], minlength=nn)
    in_core = alive_n.copy()
    peel_parent = np.full(nn, -1, np.int64)
    while True:
        leaf = in_core & (deg <= 1)
        leaf[root] = False
        if not leaf.any():
            break
        sel = leaf[rows] & in_core[h.indices]
        peel_parent[rows[sel]] = h.indices[sel]
        in_core[leaf] = False
        ok = in_core[rows] & in_core[h.indices]
        deg = np.bincount(rows[ok], minlength=nn)
    up = np.where(in_core | (peel_parent < 0), np.arange(nn), peel_parent)
    attach = _jump_to_fixed(up)
    attach = np.where(attach == root, -1, attach)[:m]
    attach[~alive] = -1
    core = in_core[:m] & alive
    ok = in_core[rows] & in_core[h.indices]
    cg = sp.csr_matrix((np.ones(int(ok.sum()), np.int8), (rows[ok], h.indices[ok])), shape=(nn, nn))
    return SystemDominators(
        system=g.system,
        nodes=g.nodes,
        alive=alive.copy(),
        idom=idom,
        core=core,
        attach=attach,
        core_indptr=cg.indptr.astype(np.int64),
        core_indices=cg.indices.astype(np.int64),
    )


def _depths(parent: np.ndarray, root: int, reached: np.ndarray) -> np.ndarray:
    """Tree depth of every node (0 at the root and at unreached nodes) by pointer jumping."""
    idx = np.arange(len(parent))
    d = np.where(reached & (idx != root), 1, 0).astype(np.int64)
    p = np.where(reached, parent, idx)
    p[root] = root
    while True:
        d = d + d[p]
        pp = p[p]
        if np.array_equal(pp, p):
            return d
        p = pp


def dominated_pairs(doms: list[SystemDominators], n_assets: int) -> sp.csr_matrix:
    """``n × n`` bool CSR ``D`` with ``D[x, v]`` when ``v`` fails with ``x`` in ``x``'s network
    alone (``v = x`` included; assets outside every network dominate only themselves)."""
    rows = [np.arange(n_assets)]
    cols = [np.arange(n_assets)]
    for d in doms:
        v = np.flatnonzero(d.alive)
        cur = d.idom[v]
        while True:
            ok = cur >= 0
            if not ok.any():
                break
            rows.append(d.nodes[cur[ok]])
            cols.append(d.nodes[v[ok]])
            v = v[ok]
            cur = d.idom[cur[ok]]
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    m = sp.csr_matrix((np.ones(len(r), bool), (r, c)), shape=(n_assets, n_assets))
    m.sum_duplicates()
    return m


@dataclass
class Criticality:
    """Compiled dominator trees, dominated sets and dependency counts of a twin."""

    model: CascadeModel
    baseline: np.ndarray  # bool (n,): functional in the intact twin
    doms: list[SystemDominators]
    dominated: sp.csr_matrix  # (n × n) bool
    live: list[tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray]]  # per kind


def build_criticality(model: CascadeModel) -> Criticality:
    """Dominator trees of every system and the dependency tables the N-1 cascade needs."""
    n = model.n_assets
    base = functional(model, np.zeros((1, n), np.int8))[0]
    doms = [system_dominators(g, base[g.nodes]) for g in model.graphs]
    dm = dominated_pairs(doms, n)
    live = []
    for d in model.dependencies:
        mat = d.matrix.tocsr().copy()
        mat.data = base[mat.indices].astype(np.float32)
        mat.eliminate_zeros()
        count = np.asarray(mat.sum(axis=1)).ravel()
        can_fail = (~d.always) & base[d.dependents] & (count > 0)
        live.append((d.dependents, mat, count, can_fail))
    return Criticality(model, base, doms, dm, live)


def _core_exact(dom: SystemDominators, removed: np.ndarray) -> np.ndarray:
    """Local nodes of one system lost when the core nodes ``removed`` (bool ``(b, m)``) fail
    together: core nodes cut off from the root and the pendant trees hanging from them."""
    m = len(dom.nodes)
    nn = m + 1
    b = removed.shape[0]
    usable = np.zeros((b, nn), bool)
    usable[:, :m] = dom.core & ~removed
    usable[:, m] = True
    indptr, indices = dom.core_indptr, dom.core_indices
    rows = np.repeat(np.arange(nn), np.diff(indptr))
    keep = usable[:, rows] & usable[:, indices]
    ind = np.where(keep, indices, rows) + (np.arange(b) * nn)[:, None]
    ip = np.r_[(indptr[:-1][None, :] + (np.arange(b) * len(indices))[:, None]).ravel(), b * len(indices)]
    gr = sp.csr_matrix((np.ones(ind.size), ind.ravel(), ip), shape=(b * nn, b * nn))
    _, lab = connected_components(gr, directed=True, connection="strong")
    lab = lab.reshape(b, nn)
    dead = (lab[:, :m] != lab[:, [m]]) & dom.core
    pend = np.flatnonzero(dom.alive & ~dom.core)
    att = dom.attach[pend]
    hang = att >= 0
    dead[:, pend[hang]] = dead[:, att[hang]]
    return dead


def failure_sets(crit: Criticality, assets: np.ndarray | None = None) -> sp.csr_matrix:
    """Assets not functional when each asset of ``assets`` alone fails (cascade included).

    Returns a bool CSR ``(len(assets), n_assets)``; row ``i`` holds the failed set of
    ``assets[i]`` (itself included; empty for an asset already out in the intact twin).
    """
    n = crit.model.n_assets
    idx = np.arange(n) if assets is None else np.asarray(assets, np.int64)
    b = len(idx)
    base = crit.baseline
    dom_f = crit.dominated.astype(np.float32)
    roots = sp.csr_matrix((base[idx].astype(np.float32), (np.arange(b), idx)), shape=(b, n))
    roots.eliminate_zeros()
    failed = ((roots @ dom_f) > 0).astype(np.float32).tocsr()
    for _ in range(n + 1):
        add_r, add_c = [], []
        for dependents, mat, count, can_fail in crit.live:
            if not mat.nnz:
                continue
            hit = (failed @ mat.T).tocoo()  # (b, n_dep): failed live suppliers
            sel = can_fail[hit.col] & (hit.data >= count[hit.col] - 0.5)
            add_r.append(hit.row[sel])
            add_c.append(dependents[hit.col[sel]])
        r = np.concatenate(add_r) if add_r else np.zeros(0, np.int64)
        c = np.concatenate(add_c) if add_c else np.zeros(0, np.int64)
        if len(r):
            already = np.asarray(failed[r, c]).ravel() > 0
            r, c = r[~already], c[~already]
        if not len(r):
            break
        add = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(b, n))
        roots = ((roots + add) > 0).astype(np.float32).tocsr()
        failed = ((roots @ dom_f) > 0).astype(np.float32).tocsr()
        failed = _exact_where_needed(crit, roots, failed)
    return (failed > 0).tocsr()


def _exact_where_needed(crit: Criticality, roots: sp.csr_matrix, failed: sp.csr_matrix) -> sp.csr_matrix:
    """Replace the union of dominated sets by the exact set in the rows where two or more core
    nodes of one system are failure roots."""
    n = crit.model.n_assets
    for dom in crit.doms:
        core_cols = dom.nodes[dom.core]
        if len(core_cols) < 2:
            continue
        rc = roots[:, core_cols]
        cnt = np.diff(rc.indptr)
        rows = np.flatnonzero(cnt >= 2)
        if not len(rows):
            continue
        m = len(dom.nodes)
        removed = np.zeros((len(rows), m), bool)
        sub = rc[rows].tocoo()
        removed[sub.row, np.flatnonzero(dom.core)[sub.col]] = True
        dead = _core_exact(dom, removed)
        # pendant failure roots of this system keep their own dominated subtrees
        in_sys = np.zeros(n, bool)
        in_sys[dom.nodes] = True
        pend_cols = dom.nodes[dom.alive & ~dom.core]
        pend_roots = roots[rows][:, pend_cols]
        sel = sp.csr_matrix(
            (
                np.ones(pend_roots.nnz, np.float32),
                (pend_roots.tocoo().row, pend_cols[pend_roots.tocoo().col]),
            ),
            shape=(len(rows), n),
        )
        below = (sel @ crit.dominated.astype(np.float32)) > 0
        dr, dc = np.nonzero(dead)
        exact = sp.csr_matrix((np.ones(len(dr), np.float32), (dr, dom.nodes[dc])), shape=(len(rows), n))
        exact = exact + below.astype(np.float32)
        other = failed[rows] @ sp.diags((~in_sys).astype(np.float32))
        new_rows = ((other + exact) > 0).astype(np.float32)
        keep = np.ones(failed.shape[0], np.float32)
        keep[rows] = 0.0
        place = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, np.arange(len(rows)))), shape=(failed.shape[0], len(rows))
        )
        failed = (sp.diags(keep) @ failed + place @ new_rows).tocsr()
    return failed


def n_minus_1(twin, model: CascadeModel | None = None, *, horizon_h: float = 12.0, thresholds=None) -> dict:
    """People losing each service when each asset alone fails (cascade included).

    Returns a dict of arrays over all assets: ``people_lost_<service>`` for power, water,
    telecom and road (people of the service rows whose terminal is lost), ``people_lost_total``
    (their sum), ``assets_lost`` (size of the failed set, the asset included), ``hospitals_lost``
    (hospitals no longer functional), ``hospital_critical`` (the asset is a hospital, or its
    failure takes out a hospital or one of a hospital's suppliers), and ``failed`` (the
    ``n × n`` bool CSR of failed sets).
    """
    from rescity.engine.cascade import build_cascade_model
    from rescity.twin.systems import service_systems

    model = model or build_cascade_model(twin, horizon_h, thresholds)
    crit = build_criticality(model)
    failed = failure_sets(crit).astype(np.float32)
    n = twin.n_assets
    s = twin.service
    term = s["terminal"].to_numpy(np.int64)
    ppl = s["people"].to_numpy(np.float64)
    sysv = s["system"].astype(str).to_numpy()
    out: dict = {}
    total = np.zeros(n)
    for sv in service_systems():
        w = np.bincount(term[sysv == sv], weights=ppl[sysv == sv], minlength=n)
        lost = np.asarray(failed @ w).ravel()
        out[f"people_lost_{sv}"] = lost
        total += lost
    out["people_lost_total"] = total
    out["assets_lost"] = np.diff(failed.tocsr().indptr).astype(np.int64)
    kind = twin.assets["kind"].astype(str).to_numpy()
    hosp = kind == "hospital"
    out["hospitals_lost"] = np.asarray(failed @ hosp.astype(np.float32)).ravel().round().astype(np.int64)
    d = twin.dependencies
    dep = d["dependent"].to_numpy(np.int64)
    sup = d["supplier"].to_numpy(np.int64)
    hosp_sup = np.zeros(n, bool)
    hosp_sup[sup[hosp[dep]]] = True
    crit_mask = hosp | hosp_sup
    out["hospital_critical"] = (np.asarray(failed @ crit_mask.astype(np.float32)).ravel() > 0) | hosp
    out["failed"] = failed.tocsr() > 0
    out["baseline"] = crit.baseline
    return out

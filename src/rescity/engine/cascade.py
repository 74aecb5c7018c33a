"""Cascading failure across interdependent networks: the functional fixed point.

An asset is *functional* in a realisation when

1. it is **usable**: its damage state is below its kind's functionality threshold (default
   :data:`DEFAULT_THRESHOLD` = 2: moderate damage or worse puts it out of service) **and** its
   dependencies are met: for every supplier kind it depends on, at least one supplier of that
   kind is functional, or the dependency's buffer (``buffer_h``: battery, generator, storage)
   lasts at least the evaluation horizon ``horizon_h``;
2. for the network systems (power, water, telecom, road; see :mod:`rescity.twin.systems`): it is **reachable from a source** of
   its system (plant, treatment works, core switch, county-seat road hub) through usable nodes
   of that system's graph. Facilities (hospital, shelter …) need only 1.

Dependencies make 1 and 2 depend on each other across systems (a substation out de-energises
the pump station downstream; the pump's water stops reaching the cells it serves), so the
functional set is the fixed point of ``F ← usable(F) ∧ reach(usable(F))``. Starting from
``F = undamaged`` and iterating, ``F`` can only shrink, and the iteration stops at the greatest
fixed point (the interdependent-network model of Buldyrev et al. 2010, *Nature* 464:1025–1028;
see the review of Ouyang 2014, *Reliab. Eng. Syst. Saf.* 121:43–60), here with buffer hours on each
dependency.

Speed: a chunk of ``B`` realisations is solved at once, on structures compiled once per twin.
Reachability uses a spanning forest of each intact network, rooted at its sources and numbered in
preorder (so every subtree is a contiguous range): a usable node none of whose tree ancestors is
unusable is reached along its tree path; the only nodes left to decide are the usable ones below
an unusable node (counted for all realisations at once by a cumulative sum over the preorder).
Those *orphans* are contracted, with the decided nodes as one root, into a small graph searched
breadth first (an orphan is reached when it joins a decided node through other orphans).
Dependencies are sparse products over the supplier columns only, and each fixed-point iteration
revisits only the realisations whose suppliers changed in the previous one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, depth_first_order

from rescity.errors import InputError
from rescity.twin.model import KINDS, Twin
from rescity.twin.systems import network_systems, supplier_systems

#: Damage state at and above which an asset is out of service, unless set per kind.
DEFAULT_THRESHOLD = 2


@dataclass
class Forest:
    """A spanning forest of an intact network, rooted at its sources, in preorder.

    Only the nodes reachable from a source in the intact network are in it (``k`` of them);
    position ``p`` of the preorder holds local node ``order[p]`` and its subtree is the range
    ``p … end[p] − 1``. ``indptr``/``indices``: the adjacency in preorder positions.
    """

    order: np.ndarray  # int64 (k,)
    nodes: np.ndarray  # int64 (k,): global asset position of each preorder position
    end: np.ndarray  # int64 (k,)
    indptr: np.ndarray  # int64 (k + 1,)
    indices: np.ndarray  # int32
    entry_row: np.ndarray = field(init=False)  # int32: preorder position of each entry's row

    def __post_init__(self) -> None:
        self.entry_row = np.repeat(np.arange(len(self.order), dtype=np.int32), np.diff(self.indptr))

    @property
    def k(self) -> int:
        return len(self.order)


@dataclass
class SystemGraph:
    """One system's network in local numbering (CSR of the symmetric adjacency)."""

    system: str
    nodes: np.ndarray  # global asset positions, int64
    indptr: np.ndarray  # int64, length m + 1
    indices: np.ndarray  # int32 local neighbour of each entry
    rows: np.ndarray  # int32 local row of each entry
    sources: np.ndarray  # local positions of the sources
    intact_reach: np.ndarray  # bool (m,): reachable when every node is usable
    forest: Forest | None = None

    @property
    def m(self) -> int:
        return len(self.nodes)


@dataclass
class Dependency:
    """Dependents needing one supplier kind: ``matrix`` (n_dep × n_assets) of suppliers."""

    kind: str
    dependents: np.ndarray  # global positions of assets with at least one row of this kind
    matrix: sp.csr_matrix  # rows = dependents, cols = suppliers whose buffer < horizon
    always: np.ndarray  # bool per dependent: some row of this kind has buffer ≥ horizon
    suppliers: np.ndarray = field(init=False)  # global positions of the matrix's nonempty columns
    compact: sp.csr_matrix = field(init=False)  # matrix restricted to those columns

    def __post_init__(self) -> None:
        m = sp.csr_matrix(self.matrix)
        self.suppliers = np.unique(m.indices).astype(np.int64)
        self.compact = m[:, self.suppliers].tocsr()


@dataclass
class CascadeModel:
    """Everything the fixed point needs, compiled once per twin and horizon."""

    n_assets: int
    threshold: np.ndarray  # int8 (n,)
    graphs: list[SystemGraph]
    dependencies: list[Dependency]
    horizon_h: float
    stats: dict = field(default_factory=dict)
    suppliers: np.ndarray = field(init=False)  # global positions any dependency reads
    system_of: np.ndarray = field(init=False)  # graph of each asset; len(graphs): none
    unreached: np.ndarray = field(init=False)  # network nodes no source reaches even intact

    def __post_init__(self) -> None:
        cols = [d.suppliers for d in self.dependencies]
        self.suppliers = np.unique(np.concatenate(cols)) if cols else np.zeros(0, np.int64)
        self.system_of = np.full(self.n_assets, len(self.graphs), np.int64)
        for j, g in enumerate(self.graphs):
            if g.forest is None:
                g.forest = _forest(g)
            self.system_of[g.nodes] = j
        self.unreached = np.concatenate(
            [np.zeros(0, np.int64)] + [g.nodes[~g.intact_reach] for g in self.graphs]
        )


def thresholds_for(twin: Twin, thresholds: Mapping[str, int] | None = None) -> np.ndarray:
    """Per-asset functionality threshold from ``kind`` → damage state (default 2)."""
    kinds = twin.assets["kind"].astype(str).to_numpy()
    thr = np.full(len(kinds), DEFAULT_THRESHOLD, dtype=np.int8)
    known = {k for ks in KINDS.values() for k in ks}
    for k, v in (thresholds or {}).items():
        if k not in known:
            raise InputError("unknown asset kind", field="thresholds", value=k)
        if int(v) != v or not 1 <= v <= 4:
            raise InputError("threshold must be a damage state 1…4", field=f"thresholds[{k}]", value=v)
        thr[kinds == k] = int(v)
    return thr


def nonzero_2d(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D array, row-major, from its flat positions (several times faster
    than the 2-D form on wide blocks)."""
    a = np.asarray(a)
    k = np.flatnonzero(a)
    r = k // max(a.shape[1], 1)
    return r, k - r * a.shape[1]


def csr_neighbours(
    indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every CSR entry of ``rows``: ``(i, j)`` with ``j`` a neighbour of ``rows[i]``, row by row."""
    rows = np.asarray(rows, np.int64)
    lo = indptr[rows].astype(np.int64)
    deg = indptr[rows + 1].astype(np.int64) - lo
    i = np.repeat(np.arange(len(rows)), deg)
    off = np.arange(int(deg.sum())) - np.repeat(np.cumsum(deg) - deg, deg)
    return i, indices[np.repeat(lo, deg) + off]


def _forest(g: SystemGraph) -> Forest:
    """Breadth-first spanning forest of ``g`` from its sources, numbered in preorder."""
    m = g.m
    if not len(g.sources):
        z = np.zeros(0, np.int64)
        return Forest(z, z, z, np.zeros(1, np.int64), np.zeros(0, np.int32))
    # a super-root (node m) linked to every source
    a = sp.csr_matrix(
        (
            np.ones(len(g.sources) + len(g.indices)),
            (np.r_[np.full(len(g.sources), m), g.rows], np.r_[g.sources, g.indices]),
        ),
        shape=(m + 1, m + 1),
    )
    bfs, pred = breadth_first_order(a, m, directed=True, return_predecessors=True)
    child = bfs[1:]
    tree = sp.csr_matrix((np.ones(len(child)), (pred[child], child)), shape=(m + 1, m + 1))
    pre = depth_first_order(tree, m, directed=True, return_predecessors=False)
    # subtree sizes, level by level from the deepest (BFS lists the levels in turn)
    pos = np.empty(m + 1, np.int64)
    pos[bfs] = np.arange(len(bfs))
    ppos = pos[pred[child]]  # non-decreasing: children follow their parents' order
    size = np.ones(m + 1, np.int64)
    levels, s, e = [], 1, 1
    while e < len(bfs):
        s, e = e, int(np.searchsorted(ppos, e, side="left")) + 1
        levels.append((s, e))
    for s, e in reversed(levels):
        np.add.at(size, pred[bfs[s:e]], size[bfs[s:e]])
    order = pre[1:].astype(np.int64)
    k = len(order)
    p_of = np.full(m, -1, np.int64)
    p_of[order] = np.arange(k)
    keep = p_of[g.rows] >= 0  # an edge of a reached node joins two reached nodes
    adj = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.int8), (p_of[g.rows[keep]], p_of[g.indices[keep]])), shape=(k, k)
    )
    return Forest(
        order=order,
        nodes=g.nodes[order],
        end=np.arange(k) + size[order],
        indptr=adj.indptr.astype(np.int64),
        indices=adj.indices.astype(np.int32),
    )


def _graph(twin: Twin, system: str, sys_of: np.ndarray, is_source: np.ndarray) -> SystemGraph | None:
    nodes = np.flatnonzero(sys_of == system)
    if not len(nodes):
        return None
    n = twin.n_assets
    local = np.full(n, -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    e = twin.edges[twin.edges["system"] == system]
    src = e["src"].to_numpy(np.int64)
    dst = e["dst"].to_numpy(np.int64)
    for name, v in (("src", src), ("dst", dst)):
        bad = (v < 0) | (v >= n)
        if bad.any():
            raise InputError(
                f"{system} edge end outside the asset table", file="edges", field=name, value=int(v[bad][0])
            )
        bad = local[v] < 0
        if bad.any():
            raise InputError(
                f"{system} edge touches an asset of another system",
                file="edges",
                field=name,
                value=int(v[bad][0]),
            )
    m = len(nodes)
    a = sp.coo_matrix(
        (np.ones(2 * len(src), np.int8), (np.r_[local[src], local[dst]], np.r_[local[dst], local[src]])),
        shape=(m, m),
    ).tocsr()
    a.sum_duplicates()
    a.setdiag(0)
    a.eliminate_zeros()
    indptr = a.indptr.astype(np.int64)
    rows = np.repeat(np.arange(m, dtype=np.int32), np.diff(indptr))
    g = SystemGraph(
        system=system,
        nodes=nodes,
        indptr=indptr,
        indices=a.indices.astype(np.int32),
        rows=rows,
        sources=np.flatnonzero(is_source[nodes]),
        intact_reach=np.zeros(m, bool),
    )
    g.forest = _forest(g)
    g.intact_reach[g.forest.order] = True
    return g


def build_cascade_model(
    twin: Twin,
    horizon_h: float = 12.0,
    thresholds: Mapping[str, int] | None = None,
) -> CascadeModel:
    """Compile the twin's networks, sources and dependencies for :func:`functional`.

    Parameters
    ----------
    twin:
        The twin.
    horizon_h:
        Evaluation horizon, hours: a dependency whose ``buffer_h`` ≥ ``horizon_h`` is met.
    thresholds:
        ``kind`` → damage state at and above which assets of that kind are out of service.
    """
    if not np.isfinite(horizon_h) or horizon_h < 0:
        raise InputError("horizon must be a finite number of hours ≥ 0", field="horizon_h", value=horizon_h)
    n = twin.n_assets
    sys_of = twin.assets["system"].astype(str).to_numpy()
    is_source = twin.assets["is_source"].to_numpy(bool)
    graphs = [g for s in network_systems() if (g := _graph(twin, s, sys_of, is_source)) is not None]
    deps = []
    d = twin.dependencies
    dep = d["dependent"].to_numpy(np.int64)
    sup = d["supplier"].to_numpy(np.int64)
    kind = d["kind"].astype(str).to_numpy()
    buf = d["buffer_h"].to_numpy(np.float64)
    for name, v in (("dependent", dep), ("supplier", sup)):
        bad = (v < 0) | (v >= n)
        if bad.any():
            raise InputError(
                "dependency names an asset outside the asset table",
                file="dependencies",
                field=name,
                value=int(v[bad][0]),
            )
    if len(kind):
        bad = kind != sys_of[sup]
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"dependency kind must be the supplier's system ({sys_of[sup[i]]!r})",
                file="dependencies",
                field="kind",
                value=kind[i],
            )
        bad = ~np.isfinite(buf) | (buf < 0)
        if bad.any():
            raise InputError(
                "buffer hours must be finite and ≥ 0",
                file="dependencies",
                field="buffer_h",
                value=float(buf[bad][0]),
            )
    for k in supplier_systems():
        sel = kind == k
        if not sel.any():
            continue
        dependents, row = np.unique(dep[sel], return_inverse=True)
        buffered = buf[sel] >= horizon_h
        always = np.zeros(len(dependents), bool)
        always[row[buffered]] = True
        live = ~buffered
        mat = sp.csr_matrix(
            (np.ones(int(live.sum()), np.float32), (row[live], sup[sel][live])), shape=(len(dependents), n)
        )
        deps.append(Dependency(k, dependents, mat, always))
    return CascadeModel(
        n_assets=n,
        threshold=thresholds_for(twin, thresholds),
        graphs=graphs,
        dependencies=deps,
        horizon_h=float(horizon_h),
    )


def _lost(fo: Forest, up: np.ndarray) -> np.ndarray:
    """Usable nodes no usable path joins to a source: flat positions ``row · k + p`` into ``up``.

    ``up`` is ``bool (b, k)``, usable per realisation in the forest's preorder. A usable node
    with no unusable tree ancestor is reached along its tree path; the others (*orphans*: the
    usable nodes of the subtrees under the topmost unusable nodes) are reached when they join a
    reached node through orphans, which one breadth-first search from a root standing for every
    reached node decides for all realisations at once.
    """
    b, k = up.shape
    flat = up.reshape(-1)
    cut = np.flatnonzero(~flat)  # sorted: row by row, in preorder
    if not len(cut):
        return cut
    p = cut % k
    end = cut - p + fo.end[p]  # one past the subtree, same row
    # topmost unusable nodes (not inside the subtree of an earlier one) with a subtree
    top = np.ones(len(cut), bool)
    top[1:] = cut[1:] >= np.maximum.accumulate(end)[:-1]
    top &= end > cut + 1
    lo, hi = cut[top] + 1, end[top]
    if not len(lo):
        return lo
    size = hi - lo
    pos = np.repeat(lo - np.cumsum(size) + size, size) + np.arange(int(size.sum()))
    orphan = pos[flat[pos]]  # sorted
    no = len(orphan)
    if not no:
        return orphan
    # every adjacency entry of the subtrees' nodes: their entries are contiguous in preorder
    base = lo - lo % k
    elo, ehi = fo.indptr[lo - base], fo.indptr[hi - base]
    cnt = ehi - elo
    iv = np.repeat(np.arange(len(lo)), cnt)
    e = np.arange(int(cnt.sum())) + (elo - np.cumsum(cnt) + cnt)[iv]
    src = base[iv] + fo.entry_row[e]
    dst = base[iv] + fo.indices[e]
    use = flat[src] & flat[dst]
    src, dst = src[use], dst[use]
    # node 0 stands for every reached node, orphan j is node j + 1
    lid = np.zeros(b * k, np.int32)
    lid[orphan] = np.arange(1, no + 1, dtype=np.int32)
    tail, head = lid[src], lid[dst]  # tail ≥ 1 (src is an orphan), non-decreasing
    inner = head > 0
    rescued = tail[~inner]  # orphans next to a reached node
    indptr = np.zeros(no + 2, np.int32)
    indptr[1] = len(rescued)
    np.cumsum(np.bincount(tail[inner], minlength=no + 1)[1:], out=indptr[2:])
    indptr[2:] += len(rescued)
    graph = sp.csr_matrix((np.ones(len(tail)), np.r_[rescued, head[inner]], indptr), shape=(no + 1, no + 1))
    found = np.zeros(no + 1, bool)
    found[breadth_first_order(graph, 0, directed=True, return_predecessors=False)] = True
    return orphan[~found[1:]]


def functional(
    model: CascadeModel,
    states: np.ndarray,
    *,
    return_iterations: bool = False,
) -> np.ndarray | tuple[np.ndarray, int]:
    """Functional assets after the cascade, for a block of realisations.

    Parameters
    ----------
    model:
        From :func:`build_cascade_model`.
    states:
        ``int8`` damage states ``(B, n_assets)`` (or ``(n_assets,)`` for one realisation).
    return_iterations:
        Also return the number of fixed-point iterations.

    Returns
    -------
    numpy.ndarray
        ``bool`` ``(B, n_assets)``: functional at the horizon.
    """
    states = np.asarray(states)
    one = states.ndim == 1
    if one:
        states = states[None, :]
    if states.shape[1] != model.n_assets:
        raise InputError(f"states must have {model.n_assets} columns", field="states", value=states.shape)
    b, n = states.shape
    ng = len(model.graphs)
    usable = states < model.threshold  # shrinks in place as suppliers fail
    f = np.empty_like(usable)
    # per system: usable nodes not reached, as flat positions r · n + v of f
    lost = [np.zeros(0, np.int64) for _ in model.graphs]
    ok_prev = [np.ones((len(d.dependents), b), bool) for d in model.dependencies]
    moving = np.arange(b)  # rows whose usable set changed
    redo = [moving] * ng  # and per system
    it = 0
    while True:
        it += 1
        for j, g in enumerate(model.graphs):
            rows = redo[j]
            k = g.forest.k
            if not len(rows) or not k:
                continue
            up = usable[:, g.forest.nodes] if len(rows) == b else usable[np.ix_(rows, g.forest.nodes)]
            gone = _lost(g.forest, up)
            r = gone // k
            new = rows[r] * n + g.forest.nodes[gone - r * k]
            if len(rows) < b:
                stale = np.zeros(b, bool)
                stale[rows] = True
                new = np.r_[lost[j][~stale[lost[j] // n]], new]
            lost[j] = new
        # f = usable ∧ reached on the rows that moved (the others keep theirs)
        f_sup = f[np.ix_(moving, model.suppliers)] if it > 1 else None
        if len(moving) == b:
            f[:] = usable
        else:
            f[moving] = usable[moving]
        f[:, model.unreached] = False
        fl = f.reshape(-1)
        for x in lost:
            fl[x] = False
        if not model.dependencies:
            break
        rows = moving if it == 1 else moving[(f[np.ix_(moving, model.suppliers)] != f_sup).any(axis=1)]
        if not len(rows):
            break
        # dependencies of the rows whose suppliers moved; which systems' usable sets shrink
        changed = np.zeros((ng + 1, len(rows)), bool)
        for di, d in enumerate(model.dependencies):
            ft = np.ascontiguousarray(f[np.ix_(rows, d.suppliers)].T, dtype=np.float32)  # (n_sup, r)
            ok = (d.compact @ ft) > 0
            ok |= d.always[:, None]
            flip = ok != ok_prev[di][:, rows]  # only ever True → False: f only shrinks
            if not flip.any():
                continue
            ok_prev[di][:, rows] = ok
            fr, fc = np.nonzero(flip)
            dep = d.dependents[fr]
            usable[rows[fc], dep] = False
            changed[model.system_of[dep], fc] = True
        moving = rows[changed.any(axis=0)]
        if not len(moving):
            break
        redo = [rows[changed[j]] for j in range(ng)]
    f = f[0] if one else f
    return (f, it) if return_iterations else f

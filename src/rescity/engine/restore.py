"""Restoration of service in time: the cascade evaluated for every hour at once.

Given each asset's repair time ``T`` (hours after the evaluation horizon: 0 for an asset that is
in service, ``inf`` for one never repaired), :func:`functional_times` returns ``τ``, the time from
which each asset is *functional* in the sense of :mod:`rescity.engine.cascade`: for every time
``t``,

    {v : τ_v ≤ t}  =  functional(model, states with the assets of T > t damaged).

Repairs only add assets back and dependency buffers are held at their state at the horizon (a
backup that lasted the horizon is kept up — refuelled, batteries swapped — until supply
returns), so the functional set only grows with ``t`` and one number per asset describes the whole
restoration. The service curve ``Q(t)`` follows from ``τ`` of the service terminals
(:mod:`rescity.metrics`).

Method. The cascade's fixed point ``F ← usable(F) ∧ reach(usable(F))`` has a time form. With
``U_v`` the time from which ``v`` is *usable* (repaired and, for each supplier kind it depends
on without a lasting buffer, some supplier functional):

    U_v = max(T_v, max_kind min_{s ∈ suppliers_kind(v)} τ_s),
    τ_v = min over paths P from a source to v of max_{u ∈ P} U_u     (network systems)
    τ_v = U_v                                                         (facilities)

the second a *bottleneck* (minimax) path (the largest edge on the path of a minimum spanning
tree when each edge weighs the larger ``U`` of its ends; Hu 1961, *Oper. Res.* 9:898–900), the
fixed point of ``τ_v = max(U_v, min over neighbours τ_w)`` reached from above. Iterating from ``τ = T`` upwards, thresholding the iterates at any ``t`` reproduces the set
iteration of the cascade at ``t`` step by step, so the limit is the greatest fixed point at every
``t`` simultaneously.

Speed. Assets functional at ``t = 0`` (one call of :func:`~rescity.engine.cascade.functional`)
keep ``τ = 0`` and are contracted into the root; the rest (typically a fifth of the assets) form
one graph for a block of realisations at once. A breadth-first tree of it from the root (built
once, it does not depend on ``U``) gives every node the largest ``U`` on its tree path by
doubling (``log₂ depth`` vectorised steps): an upper bound a real path achieves. Label
correcting from the ends of the edges outside the tree (few: the networks are nearly trees)
lowers it to the bottleneck, revisiting only the neighbours of what changed. Repairs scheduled
layer by layer only lower ``T``, so the road layers relax from the previous answer
(:class:`FallingRestoration`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from rescity.engine.cascade import CascadeModel, SystemGraph, csr_neighbours, functional, nonzero_2d
from rescity.errors import InputError

_BIG = 1e12  # stands for "never" inside the spanning tree (csgraph needs finite weights)


@dataclass
class _LateGraph:
    """Late nodes of one system in a block of realisations, contracted around the root."""

    rows: np.ndarray  # realisation of each late node
    cols: np.ndarray  # local node of each late node
    lo: np.ndarray  # edge ends (node ids: 0 = root, 1… = late nodes), lo < hi
    hi: np.ndarray
    tree: _Tree | None = None  # set on first use (it depends on the structure only)

    @property
    def n(self) -> int:
        return len(self.rows) + 1


@dataclass
class _Tree:
    """A breadth-first spanning tree of a late graph from the root, and what the bottleneck
    values need of it: the symmetric adjacency, the nodes the root reaches, the ancestors
    ``2^k`` levels up (doubling), and the ends of the edges outside the tree."""

    indptr: np.ndarray
    indices: np.ndarray
    reached: np.ndarray  # bool (n,)
    jumps: list[np.ndarray]  # jumps[k][v]: ancestor 2^k levels up (the root maps to itself)
    off_tree: np.ndarray  # nodes at an end of an edge that is not a tree edge


def _tree(lg: _LateGraph) -> _Tree:
    if lg.tree is None:
        n = lg.n
        sym = sp.csr_matrix(
            (np.ones(2 * len(lg.lo)), (np.r_[lg.lo, lg.hi], np.r_[lg.hi, lg.lo])), shape=(n, n)
        )
        _, pred = breadth_first_order(sym, 0, directed=True, return_predecessors=True)
        reached = pred >= 0
        reached[0] = True
        parent = np.where(reached, pred, np.arange(n))
        parent[0] = 0
        jumps = [parent]
        while True:
            up = jumps[-1][jumps[-1]]
            if np.array_equal(up, jumps[-1]):
                break
            jumps.append(up)
        tree_edge = (parent[lg.hi] == lg.lo) | (parent[lg.lo] == lg.hi)
        off = np.unique(np.r_[lg.lo[~tree_edge], lg.hi[~tree_edge]])
        lg.tree = _Tree(sym.indptr, sym.indices, reached, jumps, off)
    return lg.tree


def _late_graph(g: SystemGraph, late: np.ndarray) -> _LateGraph:
    """Contract the early (functional at 0) nodes of each realisation into one root (id 0)."""
    r, v = nonzero_2d(late)
    nl = len(r)
    m = late.shape[1]
    lid = np.zeros(late.size, np.int64)  # late node id of each (realisation, node), flat
    lid[r * m + v] = np.arange(1, nl + 1)
    deg = (g.indptr[v + 1] - g.indptr[v]).astype(np.int64)
    tot = int(deg.sum())
    rep = np.repeat(np.arange(nl), deg)
    off = np.arange(tot) - np.repeat(np.cumsum(deg) - deg, deg)
    nb = g.indices[np.repeat(g.indptr[v], deg) + off]
    other = lid[r[rep] * m + nb]  # 0 where the neighbour is early
    me = rep + 1
    both = (other > 0) & (me < other)
    lo = me[both]
    hi = other[both]
    to_root = np.zeros(nl + 1, bool)
    to_root[me[other == 0]] = True
    is_src = np.zeros(g.m, bool)
    is_src[g.sources] = True
    to_root[1:] |= is_src[v]
    root_nodes = np.flatnonzero(to_root)
    lo = np.r_[np.zeros(len(root_nodes), np.int64), lo]
    hi = np.r_[root_nodes, hi]
    return _LateGraph(r, v, lo, hi)


def _path_max(lg: _LateGraph, un: np.ndarray) -> np.ndarray:
    """Bottleneck value from the root of every node: the least, over paths from the root, of
    the largest node value on the path (``un``: node values, root first; ``inf`` where no path).

    The largest value on each node's path in a breadth-first tree (by doubling) is an upper
    bound that a real path achieves; label correcting from the ends of the few edges outside the
    tree then lowers it to the bottleneck (:func:`_relax`)."""
    tr = _tree(lg)
    m = un.copy()
    for up in tr.jumps:
        np.maximum(m, m[up], out=m)
    m[~tr.reached] = np.inf
    _relax(tr.indptr, tr.indices, un, m, tr.off_tree)
    return m


def _node_values(u_late: np.ndarray) -> np.ndarray:
    """Node values of a late graph, root (0) first; ``inf`` stands as :data:`_BIG`."""
    return np.r_[0.0, np.where(np.isfinite(u_late), np.minimum(u_late, _BIG), _BIG)]


def _as_hours(m: np.ndarray) -> np.ndarray:
    """Path values as restoration hours, :data:`_BIG` and above as ``inf``. The values go through
    ``x + 1`` and back, as when they were the edge weights of a minimum spanning tree (csgraph
    drops zero weights), which rounds them the same way."""
    h = (m + 1.0) - 1.0
    h[h >= _BIG / 2] = np.inf
    return h


def _minimax_from_root(lg: _LateGraph, u_late: np.ndarray) -> np.ndarray:
    """Bottleneck distance from the root to every late node; node weights ``u_late`` (nl,)."""
    if lg.n == 1:
        return np.zeros(0)
    return _as_hours(_path_max(lg, _node_values(u_late)))[1:]


def _relax(
    indptr: np.ndarray, indices: np.ndarray, un: np.ndarray, m: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Lower the bottleneck values ``m`` (in place; node 0 the root, fixed at 0) after the node
    values ``un`` fell at the nodes ``start``; returns the nodes whose value fell.

    Label correcting: a node's value is ``max(un_v, min over neighbours m_w)``; from values that
    real paths achieve (an upper bound) only the nodes next to a change are revisited, round by
    round, and the fixed point is the bottleneck distance."""
    fell = []
    front = _nodes(np.asarray(start, np.int64), len(m))
    while len(front):
        lo = indptr[front].astype(np.int64)
        deg = indptr[front + 1].astype(np.int64) - lo
        ends = np.cumsum(deg)
        i = np.repeat(np.arange(len(front)), deg)
        nb = indices[np.arange(int(ends[-1])) + np.repeat(lo - (ends - deg), deg)]
        best = np.full(len(front), np.inf)  # an isolated node keeps inf
        if len(nb):
            has = deg > 0
            best[has] = np.minimum.reduceat(m[nb], (ends - deg)[has])
        cand = np.maximum(un[front], best)
        down = cand < m[front]
        v = front[down]
        m[v] = cand[down]
        fell.append(v)
        front = _nodes(nb[down[i]], len(m))
    return np.concatenate(fell) if fell else np.zeros(0, np.int64)


def _nodes(ids: np.ndarray, n: int) -> np.ndarray:
    """The distinct node ids of ``ids`` but the root (0), ascending: sorted when few, from a mask
    of the ``n`` nodes when many."""
    if len(ids) * 16 < n:
        u = np.sort(ids)
        keep = u != 0
        keep[1:] &= u[1:] != u[:-1]
        return u[keep]
    seen = np.zeros(n, bool)
    seen[ids] = True
    seen[0] = False
    return np.flatnonzero(seen)


def _dependency_times(model: CascadeModel, tau: np.ndarray, rows=None) -> np.ndarray:
    """Time from which each asset's dependencies are met, ``(b, n)`` (0 where it has none).

    ``rows``: per dependency kind, a mask of the dependents worth evaluating (others get 0)."""
    b, n = tau.shape
    dep = np.zeros((b, n))
    for k, d in enumerate(model.dependencies):
        keep = None if rows is None else rows[k][1]
        if keep is not None and not keep.any():
            continue
        mat = d.matrix if keep is None else d.matrix[keep]
        dependents = d.dependents if keep is None else d.dependents[keep]
        always = d.always if keep is None else d.always[keep]
        if mat.nnz:
            vals = tau[:, mat.indices]
            nonempty = np.diff(mat.indptr) > 0
            starts = mat.indptr[:-1][nonempty]
            mins = np.full((b, mat.shape[0]), np.inf)
            mins[:, nonempty] = np.minimum.reduceat(vals, starts, axis=1)
        else:
            mins = np.full((b, mat.shape[0]), np.inf)
        mins[:, always] = 0.0
        cur = dep[:, dependents]
        dep[:, dependents] = np.maximum(cur, mins)
    return dep


class RestorationSolver:
    """The time-domain cascade for one block of realisations and a fixed out-of-service set.

    Build once with the assets out of service at the horizon (or their functional set), then
    call :meth:`times` with as many restoration schedules as needed (e.g. road repair layers, or
    alternative plans): the contracted graphs are reused. Only the columns of assets that are
    not functional at ``t = 0`` in some realisation of the block are carried.

    ``late_graphs``: graph index → the late graph another solver of the same block contracted
    for that network (``lates[k][0]``), where both functional sets agree on its nodes.
    """

    def __init__(
        self,
        model: CascadeModel,
        out: np.ndarray | None = None,
        *,
        functional0: np.ndarray | None = None,
        late_graphs: dict[int, _LateGraph] | None = None,
    ):
        if functional0 is None:
            if out is None:
                raise InputError("give the out-of-service assets or the functional set", field="out")
            o = np.asarray(out, bool)
            o = o[None, :] if o.ndim == 1 else o
            functional0 = functional(model, np.where(o, 4, 0).astype(np.int8))
        f0 = np.asarray(functional0, bool)
        self.one = f0.ndim == 1
        f0 = f0[None, :] if self.one else f0
        self.model = model
        b, n = f0.shape
        if n != model.n_assets:
            raise InputError(
                f"functional set must have {model.n_assets} columns", field="functional0", value=f0.shape
            )
        self.shape = (b, n)
        self.cols = np.flatnonzero((~f0).any(axis=0))  # compact columns
        self.pos = np.full(n + 1, len(self.cols), np.int64)  # asset → compact column (last: a zero column)
        self.pos[self.cols] = np.arange(len(self.cols))
        self.f0c = f0[:, self.cols]
        net = np.zeros(n, bool)
        self.lates: list[tuple[_LateGraph, np.ndarray] | None] = []
        for j, g in enumerate(model.graphs):
            net[g.nodes] = True
            if late_graphs and j in late_graphs:  # contracted already, for the same late nodes
                lg = late_graphs[j]
                self.lates.append((lg, self.pos[g.nodes[lg.cols]]))
                continue
            late = ~f0[:, g.nodes]
            if late.any():
                lg = _late_graph(g, late)
                self.lates.append((lg, self.pos[g.nodes[lg.cols]]))
            else:
                self.lates.append(None)
        self.loose = self.pos[np.flatnonzero(~net & (self.pos[:n] < len(self.cols)))]
        self.deps = []
        for d in model.dependencies:
            keep = self.pos[d.dependents] < len(self.cols)
            if not keep.any():
                continue
            mat = d.matrix[keep].tocsr()
            self.deps.append(
                (self.pos[d.dependents[keep]], self.pos[mat.indices], mat.indptr, d.always[keep])
            )

    def subset(self, rows: np.ndarray) -> RestorationSolver:
        """The same solver for some of the block's realisations (``rows``), without rebuilding:
        the contracted graphs of different realisations never touch, so each is filtered."""
        rows = np.asarray(rows, np.int64)
        sub = object.__new__(RestorationSolver)
        sub.__dict__.update(self.__dict__)
        sub.one = False
        sub.f0c = self.f0c[rows]
        sub.shape = (len(rows), self.shape[1])
        where = np.full(self.shape[0], -1, np.int64)
        where[rows] = np.arange(len(rows))
        lates = []
        for item in self.lates:
            if item is None:
                lates.append(None)
                continue
            lg, cc = item
            keep = where[lg.rows] >= 0
            if not keep.any():
                lates.append(None)
                continue
            nid = np.zeros(lg.n, np.int64)
            nid[1:][keep] = np.arange(1, int(keep.sum()) + 1)
            e = keep[lg.hi - 1]  # an edge never joins two realisations: its upper end decides
            lo, hi = nid[lg.lo[e]], nid[lg.hi[e]]
            lates.append((_LateGraph(where[lg.rows[keep]], lg.cols[keep], lo, hi), cc[keep]))
        sub.lates = lates
        return sub

    def _dep_plan(self, rows: np.ndarray, cc: np.ndarray, width: int) -> list[tuple]:
        """What :meth:`_dep_times` needs to evaluate the dependencies of the entries
        ``(rows, cc)`` (block rows, compact columns) of a ``(B, width)`` array of ``τ``: for each
        dependency kind, the entries it applies to, the flat positions of their suppliers' ``τ``
        (grouped by entry), the group starts of the entries with suppliers, and which entries
        always have it met (a lasting buffer)."""
        plan = []
        for cols, sup, indptr, always in self.deps:
            at = np.full(width, -1, np.int64)
            at[cols] = np.arange(len(cols))
            i = at[cc]
            sel = np.flatnonzero(i >= 0)
            if not len(sel):
                continue
            i = i[sel]
            rep, nb = csr_neighbours(indptr, sup, i)
            deg = indptr[i + 1] - indptr[i]
            nonempty = deg > 0
            starts = (np.cumsum(deg) - deg)[nonempty]
            plan.append((sel, rows[sel][rep] * width + nb, nonempty, starts, always[i]))
        return plan

    @staticmethod
    def _dep_times(plan: list[tuple], tau_pad: np.ndarray, n: int) -> np.ndarray:
        """Time from which the dependencies of the ``n`` entries of :meth:`_dep_plan` are met
        (0 where none applies): per kind the earliest supplier, over the kinds the latest."""
        dep = np.zeros(n)
        flat = tau_pad.ravel()
        for sel, where, nonempty, starts, always in plan:
            mins = np.full(len(sel), np.inf)
            if len(where):
                mins[nonempty] = np.minimum.reduceat(flat[where], starts)
            mins[always] = 0.0
            dep[sel] = np.maximum(dep[sel], mins)
        return dep

    @property
    def n_cols(self) -> int:
        """Number of compact columns (assets not functional at ``t = 0`` in some realisation)."""
        return len(self.cols)

    def times(self, restore_h: np.ndarray, *, return_iterations: bool = False):
        """``τ`` for restoration hours ``restore_h`` ``(B, n)`` (see :func:`functional_times`)."""
        t_full = np.asarray(restore_h, dtype=np.float64)
        t_full = t_full[None, :] if t_full.ndim == 1 else t_full
        if t_full.shape != self.shape:
            raise InputError(f"restore_h must have shape {self.shape}", field="restore_h", value=t_full.shape)
        tau, it = self.times_compact(t_full[:, self.cols], return_iterations=True)
        out = np.zeros(self.shape)
        out[:, self.cols] = tau[:, :-1]
        out = out[0] if self.one else out
        return (out, it) if return_iterations else out

    def times_compact(
        self,
        t: np.ndarray,
        *,
        return_iterations: bool = False,
        known: dict[int, np.ndarray] | None = None,
    ):
        """:meth:`times` on the compact columns: ``t`` is ``(B, n_cols)`` (the restoration hours
        of the assets ``cols``); returns ``τ`` as ``(B, n_cols + 1)``, the last column 0 (the
        assets outside ``cols``), so ``τ[:, pos[asset]]`` reads any asset.

        ``known``: graph index → ``τ`` of that network's late nodes (in :attr:`lates` order),
        already solved elsewhere for these hours (a network none of whose assets depends on
        another system, e.g. the road from the repair layers); used instead of solving it."""
        t = np.asarray(t, dtype=np.float64)
        if not (t >= 0).all():  # NaN fails too
            raise InputError("restore_h must be ≥ 0 (inf for never)", field="restore_h")
        b, nc = t.shape
        # only the late entries (not functional at 0) are ever non-zero: the networks' late nodes
        # and the late assets outside the networks; everything is read and written there
        known = known or {}
        parts = [
            (lg, lg.rows, cc, known.get(j))
            for j, item in enumerate(self.lates)
            if item is not None
            for lg, cc in [item]
        ]
        rl, cl = nonzero_2d(~self.f0c[:, self.loose])
        if len(rl):
            parts.append((None, rl, self.loose[cl], None))
        tau = np.zeros((b, nc + 1))  # last column: assets outside the block's columns (τ = 0)
        t_at = [t[rows, cc] for _, rows, cc, _ in parts]
        for (_, rows, cc, _), x in zip(parts, t_at, strict=True):
            tau[rows, cc] = x
        # the dependencies are read at the late entries only, all parts in one list
        ends = np.cumsum([len(rows) for _, rows, _, _ in parts]).tolist()
        if self.deps and parts:
            rows_all = np.concatenate([rows for _, rows, _, _ in parts])
            cc_all = np.concatenate([cc for _, _, cc, _ in parts])
            plan = self._dep_plan(rows_all, cc_all, nc + 1)
        it = 0
        prev: list[np.ndarray | None] = [None] * len(parts)
        while True:
            it += 1
            dep = self._dep_times(plan, tau, ends[-1]) if self.deps and parts else None
            new = []
            for j, ((lg, rows, cc, fixed), tj) in enumerate(zip(parts, t_at, strict=True)):
                if dep is None:
                    u = tj
                else:  # u = max(T, dependencies met), 0 where nothing is depended on
                    u = np.maximum(tj, dep[ends[j] - len(tj) : ends[j]])
                if prev[j] is not None and np.array_equal(u, prev[j]):
                    continue
                prev[j] = u
                if fixed is not None:
                    new.append((rows, cc, fixed))
                else:
                    new.append((rows, cc, u if lg is None else _minimax_from_root(lg, u)))
            # Jacobi: every part above read the previous τ; now write the changes
            moved = False
            for rows, cc, x in new:
                if not np.array_equal(x, tau[rows, cc]):
                    tau[rows, cc] = x
                    moved = True
            if not self.deps or not moved:  # without dependencies one pass is the fixed point
                break
        return (tau, it) if return_iterations else tau


class FallingRestoration:
    """Restoration times of a model without dependencies while restoration hours only fall
    (repairs scheduled layer by layer): solved once, then lowered from the previous answer.

    ``tau`` is :meth:`RestorationSolver.times_compact` of the current hours ``t`` (compact
    columns, ``(B, n_cols + 1)``). :meth:`lower` gives some assets their (lower) hours and
    relaxes only around them (:func:`_relax`); the result equals a new solve.
    """

    def __init__(self, solver: RestorationSolver, t: np.ndarray):
        if solver.deps:
            raise InputError("falling restoration needs a model without dependencies", field="model")
        self.solver = solver
        self.t = np.array(t, dtype=np.float64)
        b, nc = self.t.shape
        self.tau = np.zeros((b, nc + 1))
        loose = solver.loose
        self.tau[:, loose] = self.t[:, loose]
        self.tau[:, :nc][solver.f0c] = 0.0
        self.graphs = []
        for item in solver.lates:
            if item is None:
                continue
            lg, cc = item
            un = _node_values(self.t[lg.rows, cc])
            m = _path_max(lg, un)
            self.tau[lg.rows, cc] = _as_hours(m)[1:]
            node = np.zeros((b, nc), np.int64)  # late node of each (row, column); 0: none
            node[lg.rows, cc] = np.arange(1, lg.n)
            tr = _tree(lg)  # its symmetric adjacency, built by _path_max
            self.graphs.append((lg, cc, un, m, tr.indptr, tr.indices, node))

    def lower(self, rows: np.ndarray, cols: np.ndarray, hours: np.ndarray) -> None:
        """Set ``t[rows, cols] = hours`` (each no higher than before) and update ``tau``."""
        if np.any(hours > self.t[rows, cols]):
            raise InputError("restoration hours may only fall", field="hours")
        self.t[rows, cols] = hours
        loose = np.isin(cols, self.solver.loose)
        self.tau[rows[loose], cols[loose]] = hours[loose]
        for lg, cc, un, m, indptr, indices, node in self.graphs:
            v = node[rows, cols]
            at = v > 0
            v = v[at]
            if not len(v):
                continue
            un[v] = _node_values(hours[at])[1:]
            fell = _relax(indptr, indices, un, m, v)
            self.tau[lg.rows[fell - 1], cc[fell - 1]] = _as_hours(m[fell])


def functional_times(
    model: CascadeModel,
    restore_h: np.ndarray,
    *,
    functional0: np.ndarray | None = None,
    return_iterations: bool = False,
) -> np.ndarray | tuple[np.ndarray, int]:
    """Time from which each asset is functional, for a block of realisations.

    Parameters
    ----------
    model:
        From :func:`~rescity.engine.cascade.build_cascade_model`; its ``horizon_h`` fixes which
        dependency buffers count as lasting.
    restore_h:
        ``(B, n_assets)`` hours after the horizon at which each asset is back in service: 0 for
        assets in service at the horizon, ``inf`` for assets never repaired.
    functional0:
        ``functional(model, restore_h > 0)`` if already known (saves one cascade call).
    return_iterations:
        Also return the number of fixed-point iterations.

    Returns
    -------
    numpy.ndarray
        ``float64 (B, n_assets)``: ``τ``, hours after the horizon from which the asset is
        functional (0: functional at the horizon; ``inf``: not within the repairs given).
    """
    t = np.asarray(restore_h, dtype=np.float64)
    if t.shape[-1] != model.n_assets:
        raise InputError(f"restore_h must have {model.n_assets} columns", field="restore_h", value=t.shape)
    if np.isnan(t).any() or (t < 0).any():
        raise InputError("restore_h must be ≥ 0 (inf for never)", field="restore_h")
    one = t.ndim == 1
    t2 = t[None, :] if one else t
    f0 = None if functional0 is None else np.asarray(functional0, bool).reshape(t2.shape)
    tau, it = RestorationSolver(model, t2 > 0, functional0=f0).times(t2, return_iterations=True)
    tau = tau[0] if one else tau
    return (tau, it) if return_iterations else tau

"""Live galleries: the searchable faces of the collections searched without training (face
lists, the Person Directory's collection of each recognition model), kept per process and
brought up to date incrementally.

A gallery holds the collection's shards (shards.py) quantised as in snapshots.py, grouped into
segments of consecutive shards. A segment keeps its shards' vectors side by side in one
transposed int8 block, which snapshots.Snapshot scores in one call without copying it (a
segment stays under snapshots.CHUNK_ROWS rows). A refresh lists the shards with their ETags
(one call), reads again only the shards whose ETag changed and rebuilds only their segments:
at a million faces a change costs one shard read (about 4 MB) and one segment (about 8 MB)
instead of reading the whole gallery (about 1 GB).

Freshness, also across instances: a collection that keeps a gallery version (the directory's
writers change it after every shard change and before their operation succeeded) is refreshed
only when the version in its row differs from the cached one; a face list on every search. When
the row says the new version follows the cached one by a change of one shard, only that shard
is read (the common case: one search after each change); otherwise the shards are listed
with their ETags. A shard is read after it was listed (or after the row naming it was read), so
its content is never older than what the cache records for it: a change landing in between is
read now or at the next refresh. So once a delete's operation has succeeded, the next search in
any instance sees a new version and reads the rewritten shard: identify never returns the
deleted face.

A large gallery (ann.wanted) is also indexed, in the background, as trained snapshots are
(snapshots.IndexedSnapshot): the index covers the shards as they were when it was built (their
ETags). A search asks the index for the owners of the shards unchanged since, leaving out the
owners those changed shards held then, scores the changed shards' current faces exactly, and
merges the two (Layered). Deletes stay exact: a deleted face's shard has changed. Once more
than 1/REINDEX_SHARE of the shards changed, a new index is built from the gallery of the day
and replaces the old one when done; until the first is done, and while more than
1/LAYERED_SHARE of the shards have changed since the last, searches are exact."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from shared.collections import ann, shards, snapshots
from shared.collections.repository import Collection
from shared.collections.snapshots import IndexedSnapshot, Part, Snapshot

SEGMENT_ROWS = snapshots.CHUNK_ROWS     # the most rows a segment should hold
REINDEX_SHARE = 16                      # reindex once more than 1/16 of the shards changed
LAYERED_SHARE = 4                       # past 1/4 changed, search exactly until reindexed
_PARALLEL = 8
log = logging.getLogger("face.galleries")


@dataclass(frozen=True)
class _Shard:
    number: int
    etag: str
    owners: np.ndarray      # (n,) V16, sorted
    scales: np.ndarray      # (n,) float32


@dataclass(frozen=True)
class _Segment:
    shards: tuple[_Shard, ...]     # in shard order
    block: np.ndarray              # (DIM, rows) int8: the shards' vectors, transposed, in order

    def columns(self) -> dict[int, np.ndarray]:
        """Each shard's (DIM, n) vectors: views into the block."""
        out, start = {}, 0
        for shard in self.shards:
            out[shard.number] = self.block[:, start:start + len(shard.owners)]
            start += len(shard.owners)
        return out

    def part(self) -> Part:
        return Part(np.concatenate([s.owners for s in self.shards]), self.block.T,
                    np.concatenate([s.scales for s in self.shards]))


@dataclass(frozen=True)
class _Index:
    """An index of the gallery as it was: each shard's ETag and owners then."""
    snapshot: IndexedSnapshot
    etags: dict[int, str]
    owners: dict[int, np.ndarray]


class Layered:
    """A large gallery's search: its index for the shards unchanged since the index was
    built, exact scoring for the others (see the module's docstring)."""

    def __init__(self, exact: Snapshot, index: IndexedSnapshot, recent: Snapshot,
                 stale: np.ndarray):
        self.exact, self.index, self.recent, self.stale = exact, index, recent, stale

    @property
    def face_count(self) -> int:
        return self.exact.face_count

    def best_owners(self, queries: np.ndarray, top: int, excluded: set[str] = frozenset(),
                    only: set[str] | None = None) -> list[list[tuple[str, float]]]:
        if only is not None:        # exact search of a few persons is faster than the index
            return self.exact.best_owners(queries, top, excluded, only)
        older = self.index.best_owners(queries, top, excluded, skipped=self.stale)
        newer = self.recent.best_owners(queries, top, excluded)
        return [sorted(a + b, key=lambda found: -found[1])[:top] for a, b in zip(older, newer)]


@dataclass(frozen=True)
class _Gallery:
    version: str | None
    span: int                        # shards per segment: segment k holds shards k*span...
    segments: dict[int, _Segment]
    snapshot: Snapshot               # every face, scored exactly
    index: _Index | None = None
    search: Snapshot | Layered | None = None    # what searches use (set by _searchable)
    behind: int = 0                  # shards changed since the index was built

    def shards(self) -> dict[int, _Shard]:
        return {s.number: s for segment in self.segments.values() for s in segment.shards}


_galleries: dict[str, _Gallery] = {}
_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()
_indexing: set[str] = set()          # storage ids whose index is being built


def live(collection: Collection) -> Snapshot | Layered:
    """The collection's current faces, refreshed only as far as they changed."""
    sid, version = collection.storage_id, collection.gallery_version
    current = _galleries.get(sid)
    if version is None or current is None or current.version != version:
        with _lock(sid):    # one refresh per collection at a time; the others then reuse it
            current = _galleries.get(sid)
            if version is None or current is None or current.version != version:
                fresh = _refresh(sid, version, current, _only_change(collection, current))
                current = _galleries[sid] = _searchable(fresh, current and current.index)
    _index_if_due(sid, current)
    return current.search


def index_ready(storage_id: str) -> bool:
    """Whether the collection's gallery is searched through an index (benchmarks wait)."""
    current = _galleries.get(storage_id)
    return current is not None and current.index is not None


def _searchable(gallery: _Gallery, index: _Index | None) -> _Gallery:
    """The gallery with `index` (None: exact search only) and the search made of both."""
    now = gallery.shards()
    changed = [] if index is None else [n for n in sorted(now)
                                        if index.etags.get(n) != now[n].etag]
    if index is None or len(changed) * LAYERED_SHARE > len(index.etags):
        # Far behind (a bulk change): scoring the changed shards would cost more than the
        # index saves. Exact search until the next index, which _index_if_due starts.
        return replace(gallery, index=None, search=gallery.snapshot, behind=0)
    stale = [index.owners[n] for n in index.owners if n not in now or n in changed]
    columns = {n: c for segment in gallery.segments.values()
               for n, c in segment.columns().items() if n in changed}
    recent = Snapshot(gallery.version or "",
                      [Part(now[n].owners, columns[n].T, now[n].scales) for n in changed])
    stale_owners = np.concatenate(stale) if stale else np.zeros(0, "V16")
    return replace(gallery, index=index, behind=len(changed),
                   search=Layered(gallery.snapshot, index.snapshot, recent, stale_owners))


def _index_if_due(storage_id: str, gallery: _Gallery) -> None:
    """Start building an index of a large gallery that has none, or whose index has fallen
    behind (more than 1/REINDEX_SHARE of the shards changed since)."""
    if not ann.wanted(gallery.snapshot.face_count):
        return
    if gallery.index is not None and \
            gallery.behind * REINDEX_SHARE <= max(len(gallery.index.etags), 1):
        return
    with _locks_lock:
        if storage_id in _indexing:
            return
        _indexing.add(storage_id)
    threading.Thread(target=_build_index, args=(storage_id, gallery), daemon=True,
                     name=f"gallery-index-{storage_id}").start()


def _build_index(storage_id: str, gallery: _Gallery) -> None:
    """In a background thread: searches stay exact (or on the older index) meanwhile, and a
    failure is logged; the next search tries again."""
    try:
        parts = (gallery.segments[k].part() for k in sorted(gallery.segments))
        shards_then = gallery.shards()
        index = _Index(IndexedSnapshot(gallery.version or "", parts,
                                       gallery.snapshot.face_count),
                       {n: s.etag for n, s in shards_then.items()},
                       {n: s.owners for n, s in shards_then.items()})
        with _lock(storage_id):
            current = _galleries.get(storage_id)
            if current is not None:     # else forgotten meanwhile (the collection deleted)
                _galleries[storage_id] = _searchable(current, index)
    except Exception:
        log.exception("indexing the gallery of %s failed; its searches stay exact", storage_id)
    finally:
        with _locks_lock:
            _indexing.discard(storage_id)


def _only_change(collection: Collection, current: _Gallery | None) -> int | None:
    """The one shard changed since the cached version, if the collection's row says so."""
    change = collection.gallery_change
    if current is None or change is None or change[0] != current.version:
        return None
    return change[1]


def forget(storage_id: str) -> None:
    _galleries.pop(storage_id, None)


def _lock(storage_id: str) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(storage_id, threading.Lock())


def _refresh(storage_id: str, version: str | None, old: _Gallery | None,
             only: int | None = None) -> _Gallery:
    """The gallery at `version`: `old` with the shards read again that changed (by their
    ETags, one listing), or only shard `only`, which the row says is the one change since."""
    known = old.shards() if old else {}
    if old is not None and only is not None:
        # "" is no ETag: the next listing reads the shard again (a download's own ETag may
        # be newer than its content on Azurite, see shards._read_for_write).
        listed = {**{n: s.etag for n, s in known.items()}, only: ""}
        changed = [only]
    else:
        prefix = shards.shards_prefix(storage_id)
        listed = {int(b.name[len(prefix):]): b.etag
                  for b in shards.container().list_blobs(prefix)}
        changed = sorted(n for n, etag in listed.items()
                         if n not in known or known[n].etag != etag)
        if old is not None and not changed and set(known) == set(listed):
            return replace(old, version=version)
    with ThreadPoolExecutor(_PARALLEL) as pool:
        fresh = dict(zip(changed, pool.map(lambda n: _read(storage_id, n, listed[n]), changed)))
    for gone in [n for n in changed if not len(fresh[n][0].owners)]:     # deleted meanwhile
        del listed[gone], fresh[gone]
    rows = {n: len(fresh[n][0].owners) if n in fresh else len(known[n].owners) for n in listed}
    span = _span(rows, old.span if old else None)
    segments = _regroup(old, span, sorted(listed), fresh)
    parts = [segments[k].part() for k in sorted(segments)]
    return _Gallery(version, span, segments, Snapshot(version or "", parts))


def _regroup(old: _Gallery | None, span: int, listed: list[int],
             fresh: dict[int, tuple[_Shard, np.ndarray]]) -> dict[int, _Segment]:
    """The segments of the listed shards at `span`: the old ones none of whose shards changed
    or went, the others rebuilt from the fresh shards and the old blocks' columns."""
    old_segments = old.segments if old else {}
    kept = {}
    for segment in old_segments.values():
        columns = segment.columns()
        kept.update({s.number: (s, columns[s.number]) for s in segment.shards})
    segments = {}
    for k in sorted({n // span for n in listed}):
        members = [n for n in listed if n // span == k]
        same = old is not None and old.span == span and k in old_segments
        if same and [s.number for s in old_segments[k].shards] == members and \
                not any(n in fresh for n in members):
            segments[k] = old_segments[k]
            continue
        pieces = [fresh[n] if n in fresh else kept[n] for n in members]
        segments[k] = _Segment(tuple(s for s, _ in pieces),
                               np.concatenate([c for _, c in pieces], axis=1))
    return segments


def _read(storage_id: str, number: int, etag: str) -> tuple[_Shard, np.ndarray]:
    """A shard read after it was listed at `etag`, quantised: its owners and scales, and its
    (DIM, n) vectors."""
    part = Part.from_records(shards.read(storage_id, number)[0])
    return (_Shard(number, etag, part.owners, part.scales),
            np.ascontiguousarray(part.vectors.T))


def _span(rows: dict[int, int], current: int | None) -> int:
    """Shards per segment: the current grouping while its segments fit and are not far too
    small, else the largest power of two whose segments average half of SEGMENT_ROWS (so a
    gallery growing or shrinking a little does not regroup everything each time)."""
    per_shard = max(1, sum(rows.values()) // max(1, len(rows)))
    highest = max(rows, default=0)      # no segment needs to span more shards than this
    ideal = 1
    while ideal <= highest and 2 * ideal * per_shard <= SEGMENT_ROWS // 2:
        ideal *= 2
    if current is not None and current * 4 > ideal:
        sizes: dict[int, int] = {}
        for n, count in rows.items():
            sizes[n // current] = sizes.get(n // current, 0) + count
        if max(sizes.values(), default=0) <= SEGMENT_ROWS:
            return current
    return ideal


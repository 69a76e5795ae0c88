"""A model's route table: which version scores a request, and which shadow versions see a copy.

A :class:`RouteTable` is an immutable value. The gateway swaps a model's table by one reference
assignment and a request reads it once, so a request never sees half of an update and the hot
path takes no lock.

Choosing a version (see docs/routing.md for the reasoning):

- with a routing key: weighted rendezvous hashing (highest random weight). Each version v gets
  the score ``w_v / -ln(u_v)`` where ``u_v`` in (0, 1) is a 64-bit hash of (key, v); the highest
  score wins, so version v wins a share w_v / sum(w) of the keys. A key's version depends only on
  the key and the table (sticky, the same on every process and host), and raising one version's
  weight (the others unchanged, or all scaled by one factor) only moves keys onto that version.
  Cumulative-weight intervals over a fixed version order lack that property beyond two versions.
- without a key: weighted random, ``rand`` in [0, 1) against the cumulative weights.

The key is hashed once per request with blake2b (8 bytes; stable everywhere, unlike ``hash()``)
and spread over the versions with the SplitMix64 finaliser, in integer arithmetic.
"""

from __future__ import annotations

import hashlib
import math
import operator
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["RouteTable", "key_hash"]

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment: 2**64 / golden ratio, odd
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_TO_UNIT = 2.0**-53
_LN_2_53 = 53 * math.log(2.0)  # -ln(u) = 53 ln 2 - ln(x + 0.5) for u = (x + 0.5) * 2**-53


def key_hash(key: str) -> int:
    """The routing key's 64-bit hash: blake2b of its UTF-8 bytes, the same on every host."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _unit(key_hash: int, offset: int) -> float:
    """u in (0, 1) for (key, version): the SplitMix64 output at stream position ``offset``.

    Kept as the reference for the inlined copy in RouteTable._rendezvous (and for tests).
    """
    z = (key_hash + offset) & _M64
    z = ((z ^ (z >> 30)) * _MIX1) & _M64
    z = ((z ^ (z >> 27)) * _MIX2) & _M64
    z ^= z >> 31
    return ((z >> 11) + 0.5) * _TO_UNIT


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Routed versions with integer weights, and shadow versions with a sampling rate.

    Build one with :meth:`build` or :meth:`single`; the constructor checks the same rules.
    """

    versions: tuple[int, ...]  # routed versions (weight > 0), ascending
    weights: tuple[int, ...]  # their weights, in the same order
    shadows: tuple[tuple[int, float], ...] = ()  # (version, rate in (0, 1]), ascending by version
    # derived, for choose() and shadow_targets()
    _cumulative: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _total: int = field(init=False, repr=False, compare=False)
    _offsets: tuple[tuple[int, int, float], ...] = field(init=False, repr=False, compare=False)
    _shadow_order: tuple[tuple[float, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.versions) != len(self.weights):
            raise ValueError(f"{len(self.versions)} versions but {len(self.weights)} weights")
        if not self.versions:
            raise ValueError("a route table needs at least one version with a weight above 0")
        if list(self.versions) != sorted(set(self.versions)):
            raise ValueError(f"versions must be distinct and ascending, got {list(self.versions)}")
        for version, weight in zip(self.versions, self.weights, strict=True):
            if weight <= 0:
                raise ValueError(f"version {version}: weight {weight}; routed versions need a weight above 0")
        routed = set(self.versions)
        seen: set[int] = set()
        for version, rate in self.shadows:
            if not 0.0 < rate <= 1.0:  # also refuses NaN
                raise ValueError(f"shadow version {version}: rate {rate}, expected a fraction in (0, 1]")
            if version in routed:
                raise ValueError(f"version {version} is both routed and shadowed")
            if version in seen:
                raise ValueError(f"shadow version {version} is listed twice")
            seen.add(version)
        cumulative = []
        total = 0
        for weight in self.weights:
            total += weight
            cumulative.append(total)
        set_ = object.__setattr__
        set_(self, "_cumulative", tuple(cumulative))
        set_(self, "_total", total)
        set_(
            self,
            "_offsets",
            tuple(
                ((version * _GOLDEN) & _M64, version, float(weight))
                for version, weight in zip(self.versions, self.weights, strict=True)
            ),
        )
        set_(self, "_shadow_order", tuple(sorted(((rate, v) for v, rate in self.shadows), key=lambda x: -x[0])))

    @classmethod
    def build(cls, weights: Mapping[int, int], shadows: Mapping[int, float] | None = None) -> RouteTable:
        """A table from {version: weight} and {version: rate}.

        Versions with weight 0 are dropped, as are shadows with rate 0 and shadows of a routed
        version (it scores its share of the traffic already; a copy would score the same request
        twice). The gateway builds tables from whatever the registry sent and the versions READY
        here, so a version can be a shadow and also the only READY one: it is served, not
        refused. ValueError when a weight is negative or no weight is above 0, or a rate lies
        outside [0, 1]; TypeError for a weight or version that is not an integer.
        """
        routed: list[tuple[int, int]] = []
        for version, weight in weights.items():
            w = operator.index(weight)
            if w < 0:
                raise ValueError(f"version {version}: weight {w} is negative")
            if w > 0:
                routed.append((operator.index(version), w))
        if not routed:
            raise ValueError(f"the weights {dict(weights)} give no version any traffic (total 0)")
        routed.sort()
        routed_versions = {v for v, _ in routed}
        shadow_list: list[tuple[int, float]] = []
        for version, rate in (shadows or {}).items():
            r = float(rate)
            if not 0.0 <= r <= 1.0:
                raise ValueError(f"shadow version {version}: rate {rate}, expected a fraction in [0, 1]")
            v = operator.index(version)
            if r > 0.0 and v not in routed_versions:
                shadow_list.append((v, r))
        shadow_list.sort()
        return cls(
            versions=tuple(v for v, _ in routed),
            weights=tuple(w for _, w in routed),
            shadows=tuple(shadow_list),
        )

    @classmethod
    def single(cls, version: int) -> RouteTable:
        """All traffic to one version, no shadows."""
        return cls(versions=(operator.index(version),), weights=(1,))

    def choose(self, key: str | None, rand: float) -> int:
        """The version that scores a request.

        ``key``: the request's routing key (sticky, by weighted rendezvous hashing); None for a
        weighted random choice driven by ``rand``, a uniform draw in [0, 1).
        """
        versions = self.versions
        if len(versions) == 1:
            return versions[0]
        if key is None:
            i = bisect_right(self._cumulative, rand * self._total)
            return versions[i] if i < len(versions) else versions[-1]
        return self._rendezvous(key_hash(key))

    def choose_hashed(self, hashed: int) -> int:
        """:meth:`choose` for a key already hashed with :func:`key_hash`."""
        if len(self.versions) == 1:
            return self.versions[0]
        return self._rendezvous(hashed)

    def _rendezvous(self, hashed: int) -> int:
        # The highest w / -ln(u) is the lowest -ln(u) / w. With u = (x + 0.5) * 2**-53 for the top
        # 53 bits x of the SplitMix64 output, -ln(u) = 53 ln 2 - ln(x + 0.5). _unit() is inlined
        # and the constants are locals: a call or a global lookup per version costs more than the
        # arithmetic.
        log = math.log
        m64, mix1, mix2, ln_2_53 = _M64, _MIX1, _MIX2, _LN_2_53
        best = -1
        best_cost = math.inf
        for offset, version, weight in self._offsets:
            z = (hashed + offset) & m64
            z = ((z ^ (z >> 30)) * mix1) & m64
            z = ((z ^ (z >> 27)) * mix2) & m64
            cost = (ln_2_53 - log(((z ^ (z >> 31)) >> 11) + 0.5)) / weight
            if cost < best_cost:
                best_cost = cost
                best = version
        return best

    def shadow_targets(self, rand: float) -> tuple[int, ...]:
        """The shadow versions that get a copy of this request: those whose rate exceeds ``rand``.

        One uniform draw in [0, 1) serves every shadow: each still sees its own rate of the
        traffic, and the samples nest (a request mirrored to a 5% shadow is also mirrored to a
        20% one), so shadows can be compared on the same requests. Highest rate first.
        """
        order = self._shadow_order
        if not order or rand >= order[0][0]:
            return ()
        return tuple(version for rate, version in order if rate > rand)

    @property
    def total_weight(self) -> int:
        return self._total

    def share(self, version: int) -> float:
        """The fraction of traffic ``version`` gets (0.0 when it is not routed)."""
        for v, w in zip(self.versions, self.weights, strict=True):
            if v == version:
                return w / self._total
        return 0.0

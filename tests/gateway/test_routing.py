"""RouteTable: sticky and monotone keyed routing, weighted keyless routing, shadow sampling.

Every statistical check runs at a fixed seed or over fixed keys, so it is deterministic; its
bound is still the one a fair sampler would pass with probability above 1 - 1e-4, so it says
something about the hash and not only about this seed.
"""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.gateway.routing import RouteTable, key_hash

# chi-square critical values at alpha = 1e-4 by degrees of freedom
_CHI2_CRIT = {1: 15.14, 2: 18.42, 3: 21.11, 4: 23.51, 5: 25.74}

KEYS = [f"card-{i:07d}" for i in range(200)]


def chi_square(counts: dict[int, int], table: RouteTable) -> float:
    n = sum(counts.values())
    total = sum(table.weights)
    stat = 0.0
    for version, weight in zip(table.versions, table.weights, strict=True):
        expected = n * weight / total
        stat += (counts.get(version, 0) - expected) ** 2 / expected
    return stat


# -- building -------------------------------------------------------------------------------


def test_build_orders_versions_and_drops_zero_weights() -> None:
    table = RouteTable.build({3: 25, 1: 70, 2: 0, 7: 5}, {9: 0.1, 8: 0.0})
    assert table.versions == (1, 3, 7)
    assert table.weights == (70, 25, 5)
    assert table.shadows == ((9, 0.1),)
    assert table.total_weight == 100
    assert table.share(3) == 0.25
    assert table.share(2) == 0.0


def test_single() -> None:
    table = RouteTable.single(4)
    assert table.versions == (4,)
    assert table.weights == (1,)
    assert table.shadows == ()
    assert table == RouteTable.build({4: 1})
    for key in ("a", None):
        assert table.choose(key, 0.99) == 4
    assert table.shadow_targets(0.0) == ()


@pytest.mark.parametrize(
    ("weights", "shadows", "message"),
    [
        ({}, {}, "total 0"),
        ({1: 0, 2: 0}, {}, "total 0"),
        ({1: 5, 2: -1}, {}, "negative"),
        ({1: 5}, {2: 1.5}, "rate"),
        ({1: 5}, {2: -0.1}, "rate"),
        ({1: 5}, {2: math.nan}, "rate"),
    ],
)
def test_build_refuses(weights: dict[int, int], shadows: dict[int, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RouteTable.build(weights, shadows)


def test_a_routed_version_is_not_also_shadowed() -> None:
    # e.g. the registry shadows a new version that is, for now, the only one READY here
    table = RouteTable.build({3: 1}, {3: 0.5, 4: 0.2})
    assert table.versions == (3,)
    assert table.shadows == ((4, 0.2),)
    with pytest.raises(ValueError, match="both routed and shadowed"):
        RouteTable(versions=(3,), weights=(1,), shadows=((3, 0.5),))


def test_build_refuses_non_integer_weight() -> None:
    with pytest.raises(TypeError):
        RouteTable.build({1: 0.5})  # type: ignore[dict-item]


def test_constructor_checks_the_same_rules() -> None:
    with pytest.raises(ValueError, match="ascending"):
        RouteTable(versions=(2, 1), weights=(1, 1))
    with pytest.raises(ValueError, match="above 0"):
        RouteTable(versions=(1, 2), weights=(1, 0))
    with pytest.raises(ValueError, match="weights"):
        RouteTable(versions=(1, 2), weights=(1,))


def test_immutable_and_compared_by_value() -> None:
    table = RouteTable.build({1: 90, 2: 10})
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.versions = (3,)  # type: ignore[misc]
    assert table == RouteTable.build({2: 10, 1: 90})
    assert hash(table) == hash(RouteTable.build({2: 10, 1: 90}))


# -- sticky ---------------------------------------------------------------------------------


def test_key_hash_is_stable_across_processes_and_hosts() -> None:
    # blake2b, not the salted hash(): these values hold on every host and in every process
    assert key_hash("") == 0xB4B2797457A0A6E4
    assert key_hash("card-0000001") == 0xCED245B0B0B9BBFF
    assert key_hash("card-0000001") != key_hash("card-0000002")


def test_golden_choices() -> None:
    # pinned so that a change to the hash, which would move every sticky key, is deliberate
    table = RouteTable.build({1: 50, 2: 30, 3: 20})
    got = [table.choose(f"user-{i}", 0.0) for i in range(12)]
    assert got == [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 2, 2]


def test_sticky_same_table_and_rebuilt_equal_table() -> None:
    table = RouteTable.build({1: 60, 2: 30, 3: 10})
    rebuilt = RouteTable.build({3: 10, 1: 60, 2: 30})
    rng = random.Random(7)
    for key in KEYS:
        first = table.choose(key, rng.random())
        # rand never matters when there is a key
        assert table.choose(key, rng.random()) == first
        assert rebuilt.choose(key, rng.random()) == first
        assert table.choose_hashed(key_hash(key)) == first


# -- monotone -------------------------------------------------------------------------------

weights_st = st.dictionaries(st.integers(0, 40), st.integers(1, 1000), min_size=2, max_size=5)


@settings(max_examples=150, deadline=None)
@given(weights=weights_st, data=st.data())
def test_raising_one_weight_only_moves_keys_onto_it(weights: dict[int, int], data: st.DataObject) -> None:
    canary = data.draw(st.sampled_from(sorted(weights)))
    raised = {**weights, canary: weights[canary] + data.draw(st.integers(1, 10_000))}
    before, after = RouteTable.build(weights), RouteTable.build(raised)
    for key in KEYS:
        old, new = before.choose(key, 0.0), after.choose(key, 0.0)
        assert new in (old, canary)


@settings(max_examples=150, deadline=None)
@given(weights=weights_st, newcomer_weight=st.integers(1, 1000))
def test_adding_a_version_only_moves_keys_onto_it(weights: dict[int, int], newcomer_weight: int) -> None:
    newcomer = max(weights) + 1
    before = RouteTable.build(weights)
    after = RouteTable.build({**weights, newcomer: newcomer_weight})
    for key in KEYS:
        new = after.choose(key, 0.0)
        assert new == before.choose(key, 0.0) or new == newcomer


@settings(max_examples=150, deadline=None)
@given(weights=weights_st, factor=st.integers(2, 1000))
def test_scaling_all_weights_changes_nothing(weights: dict[int, int], factor: int) -> None:
    before = RouteTable.build(weights)
    after = RouteTable.build({v: w * factor for v, w in weights.items()})
    rng = random.Random(1)
    for key in KEYS:
        assert after.choose(key, 0.0) == before.choose(key, 0.0)
        r = rng.random()
        assert after.choose(None, r) == before.choose(None, r)


@settings(max_examples=150, deadline=None)
@given(weights=weights_st, data=st.data())
def test_removing_a_version_only_moves_its_own_keys(weights: dict[int, int], data: st.DataObject) -> None:
    gone = data.draw(st.sampled_from(sorted(weights)))
    before = RouteTable.build(weights)
    after = RouteTable.build({**weights, gone: 0})
    for key in KEYS:
        old = before.choose(key, 0.0)
        if old != gone:
            assert after.choose(key, 0.0) == old


def test_canary_steps_move_keys_one_way() -> None:
    # a champion at 100, a canary raised step by step: a key that reached the canary stays there
    champion, canary = 1, 2
    on_canary: set[str] = set()
    keys = [f"k{i}" for i in range(5000)]
    for step in (5, 25, 50, 100, 1000):
        table = RouteTable.build({champion: 100, canary: step})
        now = {k for k in keys if table.choose(k, 0.0) == canary}
        assert on_canary <= now
        on_canary = now


# -- shares ---------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [{1: 95, 2: 5}, {1: 70, 2: 25, 3: 5}, {4: 1, 5: 1, 6: 1, 7: 1}, {1: 1, 2: 1000}])
def test_keyed_shares_match_weights(weights: dict[int, int]) -> None:
    table = RouteTable.build(weights)
    counts: dict[int, int] = {}
    for i in range(40_000):
        v = table.choose(f"acct-{i}", 0.0)
        counts[v] = counts.get(v, 0) + 1
    assert chi_square(counts, table) < _CHI2_CRIT[len(weights) - 1], counts


@pytest.mark.parametrize("weights", [{1: 95, 2: 5}, {1: 70, 2: 25, 3: 5}, {4: 1, 5: 1, 6: 1, 7: 1}])
def test_keyless_shares_match_weights(weights: dict[int, int]) -> None:
    table = RouteTable.build(weights)
    rng = random.Random(20240611)
    counts: dict[int, int] = {}
    for _ in range(100_000):
        v = table.choose(None, rng.random())
        counts[v] = counts.get(v, 0) + 1
    assert chi_square(counts, table) < _CHI2_CRIT[len(weights) - 1], counts


def test_keyless_boundaries() -> None:
    table = RouteTable.build({1: 1, 2: 2, 3: 1})
    assert table.choose(None, 0.0) == 1
    assert table.choose(None, 0.2499999) == 1
    assert table.choose(None, 0.25) == 2
    assert table.choose(None, 0.7499999) == 2
    assert table.choose(None, 0.75) == 3
    assert table.choose(None, math.nextafter(1.0, 0.0)) == 3
    big = RouteTable.build({1: 1, 2: 2**52 + 1})
    assert big.choose(None, math.nextafter(1.0, 0.0)) == 2


# -- shadows --------------------------------------------------------------------------------


def test_shadow_rates_and_nesting() -> None:
    table = RouteTable.build({1: 1}, {5: 0.1, 6: 0.5, 7: 1.0})
    rng = random.Random(99)
    n = 100_000
    counts = {5: 0, 6: 0, 7: 0}
    for _ in range(n):
        targets = table.shadow_targets(rng.random())
        for v in targets:
            counts[v] += 1
        # nested samples: a request mirrored at 10% is mirrored at 50% too
        if 5 in targets:
            assert 6 in targets
        assert list(targets) == sorted(targets, key=lambda v: -dict(table.shadows)[v])
    assert counts[7] == n
    for version, rate in ((5, 0.1), (6, 0.5)):
        sigma = math.sqrt(n * rate * (1 - rate))
        assert abs(counts[version] - n * rate) < 4.5 * sigma, (version, counts)


def test_no_shadows() -> None:
    table = RouteTable.build({1: 1, 2: 1})
    assert table.shadow_targets(0.0) == ()
    assert RouteTable.build({1: 1}, {2: 0.3}).shadow_targets(0.3) == ()
    assert RouteTable.build({1: 1}, {2: 0.3}).shadow_targets(0.29) == (2,)


# -- the documented algorithm ---------------------------------------------------------------


def reference_choose(weights: dict[int, int], key: str) -> int:
    """docs/routing.md, written out plainly: any process on any host must agree with it."""
    import hashlib

    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    mask = 2**64 - 1
    best, best_score = -1, -1.0
    for version in sorted(weights):
        if weights[version] == 0:
            continue
        z = (h + version * 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        u = ((z >> 11) + 0.5) / 2**53
        score = weights[version] / -math.log(u)
        if score > best_score:
            best, best_score = version, score
    return best


@settings(max_examples=100, deadline=None)
@given(weights=weights_st, keys=st.lists(st.text(max_size=40), min_size=1, max_size=20))
def test_matches_the_documented_algorithm(weights: dict[int, int], keys: list[str]) -> None:
    table = RouteTable.build(weights)
    for key in keys:
        assert table.choose(key, 0.5) == reference_choose(weights, key)

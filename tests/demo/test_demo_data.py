from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

import driftgate.demo as demo
from driftgate.demo import DRIFT_PRESETS, FEATURES, DriftSetting, Transactions, generate
from driftgate.demo.data import FEATURE_DESCRIPTIONS, MERCHANT_CATEGORIES

N = 20_000


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic."""
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


@pytest.fixture(scope="module")
def base() -> Transactions:
    return generate(N, seed=1)


@pytest.fixture(scope="module")
def other_seed() -> Transactions:
    return generate(N, seed=2)


def test_public_api():
    assert set(demo.__all__) == {
        "FEATURES",
        "DRIFT_PRESETS",
        "DriftSetting",
        "Transactions",
        "generate",
        "TrainedModel",
        "train_demo_model",
        "evaluate_onnx",
    }


def test_features_are_documented():
    assert len(FEATURES) == 30
    assert len(set(FEATURES)) == 30
    for name in ("amount", "log_amount", "hour", "merchant_category_risk", "txn_count_1h", "card_age_days"):
        assert name in FEATURES
    for name, text in FEATURE_DESCRIPTIONS.items():
        assert text.strip() and "\n" not in text, name
    assert generate.__module__ == "driftgate.demo.data"
    assert "How fraud arises" in (demo.data.__doc__ or "")


def test_shape_dtype_ids(base):
    assert base.X.shape == (N, 30)
    assert base.X.dtype == np.float32
    assert base.X.flags.c_contiguous
    assert base.y.dtype == np.int8
    assert base.y.shape == (N,)
    assert set(np.unique(base.y)) == {0, 1}
    assert base.ids.dtype == np.int64
    assert len(np.unique(base.ids)) == N
    assert np.isfinite(base.X).all()
    assert len(base) == N
    assert base.feature_names == FEATURES
    # ids differ across seeds, so labels of two batches can be joined back
    assert not set(base.ids[:100]) & set(generate(100, seed=2).ids)


def test_value_ranges(base):
    col = base.column
    assert (col("amount") >= 0.5).all()
    np.testing.assert_allclose(col("log_amount"), np.log1p(col("amount")), rtol=1e-5)
    assert set(np.unique(col("hour"))) == set(range(24))
    assert set(np.unique(col("day_of_week"))) == set(range(7))
    assert set(np.unique(col("merchant_category"))) == set(range(len(MERCHANT_CATEGORIES)))
    for flag in (
        "is_weekend",
        "is_night",
        "new_merchant",
        "card_present",
        "online",
        "chip_used",
        "pin_verified",
        "recurring",
        "foreign",
        "new_device",
        "billing_shipping_mismatch",
    ):
        assert set(np.unique(col(flag))) <= {0.0, 1.0}, flag
    assert ((col("online") == 1) & (col("card_present") == 1)).sum() == 0
    assert (col("pin_verified") <= col("chip_used")).all()
    assert (col("txn_count_1h") <= col("txn_count_24h")).all()
    assert ((col("credit_utilization") >= 0) & (col("credit_utilization") <= 1)).all()
    assert ((col("customer_age_years") >= 18) & (col("customer_age_years") <= 95)).all()
    # the dataset is realistic: roughly a third online, a few percent at night, about 2 % fraud
    assert 0.30 < col("online").mean() < 0.40
    assert 0.04 < col("is_night").mean() < 0.08
    assert 0.015 < base.fraud_rate < 0.026


def test_deterministic_in_seed(base, other_seed):
    again = generate(N, seed=1)
    np.testing.assert_array_equal(again.X, base.X)
    np.testing.assert_array_equal(again.y, base.y)
    np.testing.assert_array_equal(again.ids, base.ids)
    assert not np.array_equal(other_seed.X, base.X)
    # a prefix is the same population, not the same rows: still valid and deterministic
    small = generate(10, seed=1)
    assert small.X.shape == (10, 30)
    assert generate(0).X.shape == (0, 30)


def test_fraud_depends_on_features(base):
    col = base.column
    fraud = base.y == 1
    assert col("merchant_category_risk")[fraud].mean() > col("merchant_category_risk")[~fraud].mean() + 0.1
    assert col("foreign")[fraud].mean() > 2 * col("foreign")[~fraud].mean()
    assert col("pin_verified")[fraud].mean() < col("pin_verified")[~fraud].mean()


def test_generate_100k_is_fast():
    generate(1000)
    best = min(_timed(lambda: generate(100_000, seed=5)) for _ in range(3))
    assert best < 1.0, f"generate(100_000) took {best:.3f}s"


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def test_bad_n():
    with pytest.raises(ValueError):
        generate(-1)
    with pytest.raises(TypeError):
        generate(2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        generate(10, drift=3)  # type: ignore[arg-type]


def test_transactions_slicing(base):
    part = base[base.y == 1]
    assert len(part) == int(base.y.sum())
    assert part.X.flags.c_contiguous
    assert (part.y == 1).all()


# ------------------------------------------------------------------------------------------------- drift

CLAIMS = {
    "amount_shift": {"amount", "log_amount", "amount_sum_24h", "amount_vs_card_median"},
    "merchant_mix": {"merchant_category", "merchant_category_risk", "merchant_fraud_rate_90d", "amount"},
    "night_shift": {"hour", "is_night"},
    "online_shift": {"online", "card_present", "chip_used", "new_device"},
    "travel_season": {"foreign", "distance_from_home_km"},
}


def test_required_presets_exist():
    assert {"none", "amount_shift", "merchant_mix", "night_shift", "concept"} <= set(DRIFT_PRESETS)
    assert DRIFT_PRESETS["none"] == DriftSetting()
    assert DRIFT_PRESETS["none"].is_none
    for name, preset in DRIFT_PRESETS.items():
        assert DriftSetting.parse(name) == preset
        assert DriftSetting.parse(str(preset)) == preset, name


@pytest.mark.parametrize("preset", sorted(DRIFT_PRESETS))
def test_preset_shifts_only_what_it_claims(preset, base, other_seed):
    setting = DRIFT_PRESETS[preset]
    drifted = generate(N, seed=1, drift=preset)
    shifted = set(setting.shifted_features)
    assert CLAIMS.get(preset, set()) <= shifted
    for i, name in enumerate(FEATURES):
        if name in shifted:
            # every feature a preset claims moves, well beyond the seed-to-seed noise
            moved = ks(drifted.X[:, i], base.X[:, i])
            noise = ks(other_seed.X[:, i], base.X[:, i])
            assert moved > max(0.015, 3 * noise), (preset, name, moved, noise)
        else:
            # common random numbers: untouched columns are bit-identical for the same seed ...
            np.testing.assert_array_equal(drifted.X[:, i], base.X[:, i], err_msg=f"{preset} {name}")
            # ... and distributed as without drift for another seed: quantiles (or, for a discrete feature,
            # the share of each value) agree
            a, b = drifted.X[:, i], other_seed.X[:, i]
            values = np.unique(b)
            if len(values) > 30:
                q = [0.05, 0.25, 0.5, 0.75, 0.95]
                spread = np.quantile(b, 0.99) - np.quantile(b, 0.01)
                assert np.max(np.abs(np.quantile(a, q) - np.quantile(b, q))) <= 0.05 * spread, (preset, name)
            else:
                shares_a = (a[:, None] == values[None, :]).mean(axis=0)
                shares_b = (b[:, None] == values[None, :]).mean(axis=0)
                assert np.max(np.abs(shares_a - shares_b)) < 0.02, (preset, name)
            assert ks(a, b) < 0.03, (preset, name)


def test_presets_move_features_the_right_way(base):
    col = lambda t, name: t.column(name)  # noqa: E731
    amount = generate(N, seed=1, drift="amount_shift")
    np.testing.assert_allclose(np.median(col(amount, "amount")), 1.5 * np.median(col(base, "amount")), rtol=0.02)
    mix = generate(N, seed=1, drift="merchant_mix")
    assert col(mix, "merchant_category_risk").mean() > col(base, "merchant_category_risk").mean() + 0.1
    night = generate(N, seed=1, drift="night_shift")
    assert 0.27 < col(night, "is_night").mean() < 0.33
    online = generate(N, seed=1, drift="online_shift")
    assert 0.67 < col(online, "online").mean() < 0.73


def test_label_only_drift(base):
    for preset in ("concept", "fraud_wave"):
        drifted = generate(N, seed=1, drift=preset)
        assert DRIFT_PRESETS[preset].shifted_features == ()
        assert DRIFT_PRESETS[preset].label_drift
        np.testing.assert_array_equal(drifted.X, base.X)
    assert generate(N, seed=1, drift="fraud_wave").fraud_rate > 2.4 * base.fraud_rate
    concept = generate(N, seed=1, drift="concept")
    assert 0.012 < concept.fraud_rate < 0.03  # the same amount of fraud, another mechanism
    assert not np.array_equal(concept.y, base.y)
    assert (
        concept.column("merchant_category_risk")[concept.y == 1].mean()
        < base.column("merchant_category_risk")[base.y == 1].mean()
    )


def test_drift_argument_forms(base):
    by_name = generate(500, seed=4, drift="night_shift")
    by_value = generate(500, seed=4, drift=DriftSetting(night_share=0.30))
    by_pairs = generate(500, seed=4, drift="night_share=0.3")
    np.testing.assert_array_equal(by_name.X, by_value.X)
    np.testing.assert_array_equal(by_name.X, by_pairs.X)
    np.testing.assert_array_equal(generate(500, seed=4, drift=None).X, generate(500, seed=4, drift="none").X)
    assert by_name.drift == DriftSetting(night_share=0.30)


# ------------------------------------------------------------------------------------------------- parse


def test_parse_forms():
    assert DriftSetting.parse("") == DriftSetting()
    assert DriftSetting.parse("none") == DriftSetting()
    assert DriftSetting.parse("amount_scale=2") == DriftSetting(amount_scale=2.0)
    assert DriftSetting.parse(" amount_scale = 2 , concept=0.5 ") == DriftSetting(amount_scale=2.0, concept=0.5)
    assert DriftSetting.parse("night_shift,fraud_rate=2") == DriftSetting(night_share=0.30, fraud_rate=2.0)
    # pairs override presets whatever their order
    assert DriftSetting.parse("night_share=0.5,night_shift") == DriftSetting(night_share=0.5)
    assert str(DriftSetting(amount_scale=2.0, concept=0.5)) == "amount_scale=2,concept=0.5"
    assert str(DriftSetting()) == "none"
    assert DriftSetting.coerce(None) == DriftSetting()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus", "unknown drift preset 'bogus'"),
        ("amount=2", "unknown drift key 'amount'"),
        ("amount_scale=abc", "amount_scale needs a number, got 'abc'"),
        ("amount_scale=", "amount_scale needs a number"),
        ("amount_scale=0", "must be > 0"),
        ("fraud_rate=-1", "must be > 0"),
        ("night_share=1.5", "must be in [0, 1]"),
        ("concept=-0.1", "must be in [0, 1]"),
        ("merchant_mix=nan", "must be finite"),
        ("concept=0.2,concept=0.3", "given twice"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(ValueError) as info:
        DriftSetting.parse(text)
    assert message in str(info.value)


def test_parse_error_lists_the_choices():
    with pytest.raises(ValueError) as info:
        DriftSetting.parse("wat=1")
    for key in DriftSetting.knobs():
        assert key in str(info.value)
    with pytest.raises(ValueError) as info:
        DriftSetting.parse("wat")
    assert "amount_shift" in str(info.value)


def test_setting_is_frozen_and_validated():
    setting = DriftSetting(concept=1)
    assert setting.concept == 1.0 and isinstance(setting.concept, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setting.concept = 0.5  # type: ignore[misc]
    with pytest.raises(ValueError):
        DriftSetting(online_share=2.0)
    with pytest.raises(ValueError):
        DriftSetting(amount_scale="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DriftSetting(concept=True)  # type: ignore[arg-type]

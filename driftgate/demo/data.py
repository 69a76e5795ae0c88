"""Synthetic card transactions for the built-in demo, with knobs that make them drift.

``generate(n, seed, drift)`` returns ``Transactions``: ``X`` float32 ``[n, 30]`` (C-contiguous, columns in
``FEATURES`` order), ``y`` int8 ``[n]`` (1 = fraud, about 2 % without drift) and ``ids`` int64 ``[n]``.
It is vectorised numpy on one ``np.random.default_rng(seed)``: 100k rows take a few tens of milliseconds.

Features
--------
One row is one authorisation request as a card issuer's fraud engine sees it: the transaction itself plus
aggregates of the card's recent history. ``FEATURE_DESCRIPTIONS`` documents every column; in short:

- transaction: ``amount``, ``log_amount``, ``hour``, ``day_of_week``, ``is_weekend``, ``is_night``;
- merchant: ``merchant_category`` (a code into ``MERCHANT_CATEGORIES``), its ``merchant_category_risk``, the
  merchant's own ``merchant_fraud_rate_90d``, ``new_merchant`` for this card;
- channel: ``card_present``, ``online``, ``chip_used``, ``pin_verified``, ``recurring``, ``foreign``,
  ``new_device``, ``billing_shipping_mismatch`` (0/1 flags);
- geography: ``distance_from_home_km``, ``distance_from_last_txn_km``, ``minutes_since_last_txn`` and the
  ``travel_speed_kmh`` they imply;
- velocity: ``txn_count_1h``, ``txn_count_24h`` (both count the current one), ``amount_sum_24h`` (before this
  one), ``amount_vs_card_median`` (amount over the card's 90-day median), ``declined_count_24h``;
- card and holder: ``card_age_days``, ``customer_age_years``, ``credit_utilization``.

Features are drawn first (from realistic marginals: log-normal amounts whose median depends on the merchant
category, an intra-day profile with a quiet night, about a third of purchases online, ...), and the label
second: ``P(fraud | x)``. So the features' distribution never depends on the fraud rate or the fraud
mechanism, and a drift knob changes exactly the columns that it claims (``DriftSetting.shifted_features``).

How fraud arises
----------------
``P(fraud | x) = fraud_rate * ((1 - concept) * p_classic(x) + concept * p_takeover(x))``, each ``p`` a
logistic function of the features with thresholds and interactions (learnable by trees, not linearly
separable, and noisy: the true P(fraud | x) ranks at a ROC AUC of 0.93; the demo gradient-boosting model
reaches about 0.92 and a logistic regression 0.90).

- ``p_classic`` (stolen and skimmed cards, card-not-present fraud): large amounts relative to the card's
  median, high-risk merchant categories (electronics, jewellery, gift cards, gambling), nights, foreign
  merchants, a new device or a billing/shipping mismatch online, magnetic-stripe fallback in a shop,
  impossible travel speeds, bursts of transactions, recent declines, new cards. PIN-verified chip
  transactions and recurring bills are rarely fraud.
- ``p_takeover`` (the ``concept`` knob: account takeover and card testing): small amounts at low-risk merchants
  in daytime, on well-established cards of older holders with high credit utilisation, many transactions a
  day in quick succession, new merchants and recurring charges. Several signals point the other way than in
  ``p_classic``, so a model trained before the shift ranks the new fraud badly and a retrained one recovers.

Both are calibrated to about 2 % fraud on undrifted features.

Drift knobs (``DriftSetting``)
------------------------------
``amount_scale`` (x1), ``merchant_mix`` (0..1, 0), ``night_share`` (0.06), ``online_share`` (0.35),
``foreign_share`` (0.06) shift features; ``fraud_rate`` (x1, prior shift) and ``concept`` (0..1, concept drift)
change only the labels, so feature drift statistics cannot see them, only labelled outcomes can.
``DRIFT_PRESETS`` names ready-made settings; ``DriftSetting.parse`` reads a preset name or
``"key=value,key=value"`` (presets and keys can be combined: ``"night_shift,fraud_rate=2"``).

Every random draw is made in the same order whatever the drift, and a knob acts through deterministic
transforms of those draws, so ``generate(n, s, drift)`` and ``generate(n, s)`` have bit-identical columns
except the ones the drift shifts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DRIFT_PRESETS",
    "FEATURES",
    "FEATURE_DESCRIPTIONS",
    "MERCHANT_CATEGORIES",
    "DriftSetting",
    "Transactions",
    "generate",
]

# name -> one-line description; the order is the column order of X.
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "amount": "transaction amount in the card's currency, rounded to cents",
    "log_amount": "log(1 + amount)",
    "hour": "local hour of the transaction, 0..23",
    "day_of_week": "local day of week, 0 = Monday .. 6 = Sunday",
    "is_weekend": "1 on Saturday and Sunday",
    "is_night": "1 when hour is 0..5",
    "merchant_category": "merchant category code, an index into MERCHANT_CATEGORIES",
    "merchant_category_risk": "historical fraud risk index of the merchant category, 0..1",
    "merchant_fraud_rate_90d": "share of this merchant's transactions reported as fraud in the last 90 days",
    "new_merchant": "1 when the card has never been used at this merchant",
    "card_present": "1 when the physical card was present (chip, swipe or contactless)",
    "online": "1 for an e-commerce transaction",
    "chip_used": "1 when the card's EMV chip was read (0 on magnetic-stripe fallback or card-not-present)",
    "pin_verified": "1 when the holder entered the PIN",
    "recurring": "1 for a recurring or subscription charge",
    "foreign": "1 when the merchant is in another country than the card's issuer",
    "new_device": "1 online when the device fingerprint was never seen for this card",
    "billing_shipping_mismatch": "1 online when billing and shipping addresses differ",
    "distance_from_home_km": "distance between the merchant (or the buyer's IP) and the holder's home",
    "distance_from_last_txn_km": "distance from the location of the card's previous transaction",
    "minutes_since_last_txn": "minutes since the card's previous transaction",
    "travel_speed_kmh": "distance_from_last_txn_km over the time since it: speeds no plane makes are suspect",
    "txn_count_1h": "transactions on the card in the last hour, this one included",
    "txn_count_24h": "transactions on the card in the last 24 hours, this one included",
    "amount_sum_24h": "amount spent on the card in the 24 hours before this transaction",
    "amount_vs_card_median": "amount over the card's median transaction amount of the last 90 days",
    "declined_count_24h": "declined authorisation attempts on the card in the last 24 hours",
    "card_age_days": "days since the card was issued",
    "customer_age_years": "age of the card holder",
    "credit_utilization": "balance over credit limit before this transaction, 0..1",
}

FEATURES: tuple[str, ...] = tuple(FEATURE_DESCRIPTIONS)
_COL = {name: i for i, name in enumerate(FEATURES)}

# (name, share of transactions, fraud risk index, median amount)
MERCHANT_CATEGORIES: tuple[tuple[str, float, float, float], ...] = (
    ("grocery", 0.22, 0.10, 35.0),
    ("restaurants", 0.16, 0.12, 28.0),
    ("fuel", 0.10, 0.25, 45.0),
    ("general_retail", 0.14, 0.20, 55.0),
    ("pharmacy", 0.05, 0.08, 25.0),
    ("utilities_telecom", 0.06, 0.05, 70.0),
    ("airlines_travel", 0.04, 0.55, 320.0),
    ("hotels", 0.03, 0.40, 180.0),
    ("electronics", 0.05, 0.70, 220.0),
    ("jewelry_luxury", 0.02, 0.80, 400.0),
    ("digital_goods", 0.06, 0.60, 15.0),
    ("gift_cards_money_transfer", 0.02, 0.95, 100.0),
    ("gambling", 0.02, 0.85, 60.0),
    ("entertainment_streaming", 0.03, 0.15, 20.0),
)
_CAT_CODE = {c[0]: float(i) for i, c in enumerate(MERCHANT_CATEGORIES)}
_FUEL = _CAT_CODE["fuel"]
_GIFT_CARDS = _CAT_CODE["gift_cards_money_transfer"]
_CAT_SHARE = np.array([c[1] for c in MERCHANT_CATEGORIES])
_CAT_SHARE /= _CAT_SHARE.sum()
_CAT_RISK = np.array([c[2] for c in MERCHANT_CATEGORIES])
_CAT_LOG_MEDIAN = np.log(np.array([c[3] for c in MERCHANT_CATEGORIES]))
# where merchant_mix moves traffic: the high-risk categories, in their natural proportions
_CAT_HIGH = np.where(_CAT_RISK >= 0.5, _CAT_SHARE, 0.0)
_CAT_HIGH /= _CAT_HIGH.sum()

_NIGHT_HOUR_P = np.array([0.30, 0.22, 0.16, 0.12, 0.10, 0.10])  # hours 0..5
_DAY_HOUR_P = np.array(  # hours 6..23
    [1.0, 2.5, 4.0, 5.0, 5.5, 6.0, 7.5, 7.0, 6.0, 5.8, 6.0, 6.8, 7.2, 6.5, 5.5, 4.5, 3.2, 2.0]
)
_DAY_HOUR_P /= _DAY_HOUR_P.sum()
_DOW_P = np.array([0.13, 0.13, 0.14, 0.14, 0.16, 0.17, 0.13])

# Intercepts that put each fraud mechanism at about 2 % on undrifted features (fitted on 2M rows).
_B_CLASSIC = -6.677
_B_TAKEOVER = -8.517


# --------------------------------------------------------------------------------------------- drift


@dataclass(frozen=True, slots=True)
class DriftSetting:
    """How the generated population differs from the reference one. ``DriftSetting()`` is no drift.

    amount_scale: every amount of the last 24 hours is multiplied (a price or currency shift that the card's
        90-day median has not caught up with); > 0.
    merchant_mix: share of transactions moved to the high-risk merchant categories, 0..1.
    night_share: share of transactions between 00:00 and 05:59, 0..1 (0.06 without drift).
    online_share: share of e-commerce transactions, 0..1 (0.35 without drift).
    foreign_share: share of transactions at foreign merchants, 0..1 (0.06 without drift).
    fraud_rate: multiplies P(fraud | x) (a prior shift: labels only); > 0.
    concept: share of fraud from the account-takeover mechanism instead of the classic one, 0..1
        (concept drift: labels only, invisible to feature drift statistics).
    """

    amount_scale: float = 1.0
    merchant_mix: float = 0.0
    night_share: float = 0.06
    online_share: float = 0.35
    foreign_share: float = 0.06
    fraud_rate: float = 1.0
    concept: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"drift {f.name} must be a number, got {value!r}")
            value = float(value)
            object.__setattr__(self, f.name, value)
            if not math.isfinite(value):
                raise ValueError(f"drift {f.name} must be finite, got {value!r}")
            if f.name in ("amount_scale", "fraud_rate"):
                if value <= 0:
                    raise ValueError(f"drift {f.name} is a multiplier and must be > 0, got {value:g}")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"drift {f.name} is a share and must be in [0, 1], got {value:g}")

    @classmethod
    def knobs(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def parse(cls, text: str) -> DriftSetting:
        """A preset name, ``key=value`` pairs, or both, comma-separated: ``"night_shift,fraud_rate=2"``.

        Presets apply first, in order (each sets the knobs it changes), then the ``key=value`` pairs.
        Raises ValueError naming the bad part and what is allowed.
        """
        if not isinstance(text, str):
            raise ValueError(f"drift setting must be a string, got {type(text).__name__}")
        values: dict[str, float] = {}
        pairs: dict[str, float] = {}
        keys = cls.knobs()
        for raw in text.split(","):
            part = raw.strip()
            if not part:
                continue
            if "=" not in part:
                preset = DRIFT_PRESETS.get(part)
                if preset is None:
                    raise ValueError(
                        f"unknown drift preset {part!r}; presets: {', '.join(DRIFT_PRESETS)}; "
                        f"or give key=value pairs with keys: {', '.join(keys)}"
                    )
                values.update(preset.changes())
                continue
            key, _, value_text = (s.strip() for s in part.partition("="))
            if key not in keys:
                raise ValueError(f"unknown drift key {key!r} in {part!r}; keys: {', '.join(keys)}")
            if key in pairs:
                raise ValueError(f"drift key {key!r} given twice")
            try:
                value = float(value_text)
            except ValueError:
                raise ValueError(f"drift {key} needs a number, got {value_text!r}") from None
            pairs[key] = value
        values.update(pairs)
        return cls(**values)

    @classmethod
    def coerce(cls, drift: DriftSetting | str | None) -> DriftSetting:
        if drift is None:
            return cls()
        if isinstance(drift, DriftSetting):
            return drift
        if isinstance(drift, str):
            return cls.parse(drift)
        raise TypeError(f"drift must be a DriftSetting, a string or None, got {type(drift).__name__}")

    def changes(self) -> dict[str, float]:
        """The knobs that differ from no drift."""
        base = _NO_DRIFT
        return {k: getattr(self, k) for k in self.knobs() if getattr(self, k) != getattr(base, k)}

    @property
    def is_none(self) -> bool:
        return not self.changes()

    @property
    def shifted_features(self) -> tuple[str, ...]:
        """Features whose distribution differs from no drift (in FEATURES order); all others are identical."""
        changed = self.changes()
        shifted: set[str] = set()
        for knob, features in _KNOB_FEATURES.items():
            if knob in changed:
                shifted.update(features)
        return tuple(f for f in FEATURES if f in shifted)

    @property
    def label_drift(self) -> bool:
        """True when P(fraud | x) itself changes (fraud_rate or concept), not only the features."""
        changed = self.changes()
        return "fraud_rate" in changed or "concept" in changed

    def __str__(self) -> str:
        changed = self.changes()
        if not changed:
            return "none"
        return ",".join(f"{k}={v:g}" for k, v in changed.items())


_NO_DRIFT = DriftSetting()

_AMOUNT_FEATURES = ("amount", "log_amount", "amount_sum_24h", "amount_vs_card_median")
_KNOB_FEATURES: dict[str, tuple[str, ...]] = {
    "amount_scale": _AMOUNT_FEATURES,
    "merchant_mix": (
        "merchant_category",
        "merchant_category_risk",
        "merchant_fraud_rate_90d",
        "amount",
        "log_amount",
        "amount_vs_card_median",
    ),
    "night_share": ("hour", "is_night"),
    "online_share": (
        "online",
        "card_present",
        "chip_used",
        "pin_verified",
        "recurring",
        "new_device",
        "billing_shipping_mismatch",
    ),
    "foreign_share": ("foreign", "distance_from_home_km"),
    "fraud_rate": (),
    "concept": (),
}

DRIFT_PRESETS: dict[str, DriftSetting] = {
    "none": DriftSetting(),
    # prices up by a half (inflation, a currency change, the holiday season)
    "amount_shift": DriftSetting(amount_scale=1.5),
    # a merchant acquirer onboards gambling, gift-card and electronics merchants
    "merchant_mix": DriftSetting(merchant_mix=0.35),
    # a night-time sale, or a new market in another time zone
    "night_shift": DriftSetting(night_share=0.30),
    # the shop moves online
    "online_shift": DriftSetting(online_share=0.70),
    # the travel season
    "travel_season": DriftSetting(foreign_share=0.25),
    # a fraud wave: the same customers, three times the fraud
    "fraud_wave": DriftSetting(fraud_rate=3.0),
    # fraudsters change tactics (account takeover); the features look the same
    "concept": DriftSetting(concept=1.0),
    # a fraud ring moves online with new tactics: feature drift that alerts, and a stale model
    "fraud_ring": DriftSetting(online_share=0.60, concept=0.8, fraud_rate=1.5),
}


# -------------------------------------------------------------------------------------- transactions


@dataclass(slots=True)
class Transactions:
    """Rows of ``generate``: X float32 [n, 30] in FEATURES order, y int8 [n] (1 = fraud), ids int64 [n]."""

    X: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    drift: DriftSetting = dataclasses.field(default_factory=DriftSetting)
    feature_names: tuple[str, ...] = FEATURES

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def fraud_rate(self) -> float:
        return float(self.y.mean()) if len(self.y) else 0.0

    def column(self, name: str) -> np.ndarray:
        """One feature column (a strided view)."""
        return self.X[:, _COL[name]]

    def __getitem__(self, index: Any) -> Transactions:
        """Rows by slice, mask or index array, as a new Transactions (X stays C-contiguous)."""
        return Transactions(
            np.ascontiguousarray(self.X[index]), self.y[index], self.ids[index], self.drift, self.feature_names
        )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _p_classic(c: dict[str, np.ndarray]) -> np.ndarray:
    log_ratio = np.clip(np.log(c["amount_vs_card_median"]), -2.0, 3.0)
    amount = c["amount"]
    hour = c["hour"]
    cat = c["merchant_category"]
    magstripe = c["card_present"] * (1.0 - c["chip_used"])
    z = (
        _B_CLASSIC
        + 1.6 * c["merchant_category_risk"]
        + 0.6 * np.maximum(log_ratio, 0.0)
        + 0.2 * np.clip(c["log_amount"] - np.log(60.0), -2.0, 3.0)
        + 0.8 * c["is_night"]
        + 1.3 * ((hour >= 2.0) & (hour <= 4.0))
        + 1.0 * c["foreign"]
        + 1.4 * c["foreign"] * c["is_night"]
        + 1.0 * c["new_device"]
        + 2.6 * c["new_device"] * (c["amount_vs_card_median"] > 3.0)
        + 2.4 * c["billing_shipping_mismatch"] * (amount > 150.0)
        + 1.2 * magstripe
        + 2.6 * magstripe * (cat == _FUEL)
        - 1.6 * c["pin_verified"]
        + 3.5 * (c["travel_speed_kmh"] > 800.0)
        + 1.0 * (c["txn_count_1h"] >= 3.0)
        + 0.8 * np.minimum(c["declined_count_24h"], 3.0)
        + 0.5 * c["new_merchant"]
        + 1.1 * (c["card_age_days"] < 45.0)
        - 1.4 * c["recurring"]
        + 1.4 * ((c["customer_age_years"] < 23.0) | (c["customer_age_years"] > 78.0))
        + 2.6 * (cat == _GIFT_CARDS) * c["online"]
        + 2.4 * (((amount >= 450.0) & (amount < 500.0)) | ((amount >= 950.0) & (amount < 1000.0)))
        + 0.35 * np.log1p(c["distance_from_home_km"] / 50.0)
    )
    return _sigmoid(z)


def _p_takeover(c: dict[str, np.ndarray]) -> np.ndarray:
    z = (
        _B_TAKEOVER
        - 1.2 * np.clip(c["log_amount"] - np.log(60.0), -3.0, 3.0)
        + 2.0 * (c["customer_age_years"] >= 68.0)
        + 2.6 * c["credit_utilization"]
        + 0.4 * np.minimum(c["txn_count_24h"], 12.0)
        + 2.1 * (c["minutes_since_last_txn"] < 3.0)
        - 2.1 * c["merchant_category_risk"]
        + 1.7 * c["recurring"]
        + 1.3 * c["new_merchant"]
        - 1.3 * c["is_night"]
        - 1.3 * c["foreign"]
        + 1.5 * (c["card_age_days"] > 1500.0)
        - 1.0 * c["new_device"]
        + 0.9 * c["pin_verified"]
    )
    return _sigmoid(z)


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 0 or n >= 1 << 32:
        raise ValueError(f"n must be in [0, 2**32), got {n}")
    return int(n)


def generate(n: int, seed: int = 0, drift: DriftSetting | str | None = None) -> Transactions:
    """``n`` synthetic card transactions, deterministic in ``seed`` (and ``drift``); see the module doc.

    ``ids`` are ``(seed mod 2**31) << 32 | row``: unique within a call, and across calls with different
    seeds, so labels can be joined back to scored requests.
    """
    n = _check_n(n)
    d = DriftSetting.coerce(drift)
    rng = np.random.default_rng(seed)
    f64 = np.float64

    # --- every draw, always in this order (common random numbers across drift settings) ---
    u_night, u_hour_n, u_hour_d, u_dow = rng.random((4, n))
    u_cat = rng.random(n)
    z_amount = rng.standard_normal(n)
    z_merchant = rng.standard_normal(n)
    z_median = rng.standard_normal(n)
    z_sum = rng.standard_normal(n)
    u_online, u_moto, u_chip, u_pin, u_rec, u_dev, u_bsm, u_foreign, u_newm = rng.random((9, n))
    z_home, z_abroad, z_last = rng.standard_normal((3, n))
    count_prior = rng.poisson(2.5, n)
    prior_1h = rng.binomial(count_prior, 0.08)
    u_gap = rng.random(n)
    gap_exp = rng.standard_exponential(n)
    declined = rng.poisson(0.06, n)
    card_age = rng.gamma(1.3, 700.0, n)
    z_age = rng.standard_normal(n)
    util = rng.beta(2.0, 5.0, n)
    u_label = rng.random(n)

    # --- time ---
    is_night = u_night < d.night_share
    night_hour = np.searchsorted(np.cumsum(_NIGHT_HOUR_P), u_hour_n * _NIGHT_HOUR_P.sum(), side="right")
    day_hour = 6 + np.searchsorted(np.cumsum(_DAY_HOUR_P), u_hour_d * _DAY_HOUR_P.sum(), side="right")
    hour = np.where(is_night, np.minimum(night_hour, 5), np.minimum(day_hour, 23)).astype(f64)
    dow = np.minimum(np.searchsorted(np.cumsum(_DOW_P), u_dow * _DOW_P.sum(), side="right"), 6).astype(f64)

    # --- merchant ---
    cat_p = (1.0 - d.merchant_mix) * _CAT_SHARE + d.merchant_mix * _CAT_HIGH
    cat_cdf = np.cumsum(cat_p)
    cat = np.minimum(np.searchsorted(cat_cdf, u_cat * cat_cdf[-1], side="right"), len(cat_p) - 1)
    risk = _CAT_RISK[cat]
    merchant_rate = np.round(np.minimum(0.012 * risk * np.exp(0.6 * z_merchant), 0.5), 5)
    new_merchant = (u_newm < 0.18).astype(f64)

    # --- amounts ---
    amount = np.exp(_CAT_LOG_MEDIAN[cat] + 0.9 * z_amount) * d.amount_scale
    amount = np.round(np.clip(amount, 0.5, 25_000.0 * d.amount_scale), 2)
    card_median = np.exp(np.log(40.0) + 0.5 * z_median)
    txn_count_24h = 1.0 + count_prior
    sum_24h = np.round(count_prior * card_median * np.exp(0.2 + 0.6 * z_sum) * d.amount_scale, 2)
    ratio = amount / card_median

    # --- channel ---
    online = u_online < d.online_share
    card_present = ~online & (u_moto >= 0.03)  # 3 % of the rest: mail and telephone orders
    chip = card_present & (u_chip < 0.92)
    pin = chip & (u_pin < 0.45)
    recurring = online & (u_rec < 0.18)
    new_device = online & (u_dev < 0.12)
    bsm = online & (u_bsm < 0.07)
    foreign = u_foreign < d.foreign_share

    # --- geography and velocity ---
    home = np.where(foreign, np.exp(np.log(1500.0) + 0.8 * z_abroad), np.exp(np.log(6.0) + 1.2 * z_home))
    last = np.exp(np.log(4.0) + 1.4 * z_last)
    txn_count_1h = 1.0 + prior_1h
    minutes = np.where(
        txn_count_1h >= 2.0,
        0.5 + 59.5 * u_gap**2,
        60.0 + gap_exp * (1440.0 / txn_count_24h) * 2.0,
    )
    minutes = np.round(np.minimum(minutes, 43_200.0), 1)
    home = np.round(home, 2)
    last = np.round(last, 2)
    speed = np.round(last / np.maximum(minutes / 60.0, 1.0 / 60.0), 1)

    cols: dict[str, np.ndarray] = {
        "amount": amount,
        "log_amount": np.log1p(amount),
        "hour": hour,
        "day_of_week": dow,
        "is_weekend": (dow >= 5).astype(f64),
        "is_night": is_night.astype(f64),
        "merchant_category": cat.astype(f64),
        "merchant_category_risk": risk,
        "merchant_fraud_rate_90d": merchant_rate,
        "new_merchant": new_merchant,
        "card_present": card_present.astype(f64),
        "online": online.astype(f64),
        "chip_used": chip.astype(f64),
        "pin_verified": pin.astype(f64),
        "recurring": recurring.astype(f64),
        "foreign": foreign.astype(f64),
        "new_device": new_device.astype(f64),
        "billing_shipping_mismatch": bsm.astype(f64),
        "distance_from_home_km": home,
        "distance_from_last_txn_km": last,
        "minutes_since_last_txn": minutes,
        "travel_speed_kmh": speed,
        "txn_count_1h": txn_count_1h,
        "txn_count_24h": txn_count_24h,
        "amount_sum_24h": sum_24h,
        "amount_vs_card_median": np.round(ratio, 4),
        "declined_count_24h": declined.astype(f64),
        "card_age_days": np.minimum(np.floor(1.0 + card_age), 7300.0),
        "customer_age_years": np.clip(np.round(46.0 + 15.0 * z_age), 18.0, 95.0),
        "credit_utilization": np.round(util, 4),
    }
    Xt = np.empty((len(FEATURES), n), dtype=np.float32)  # column-major first: contiguous writes
    for name, i in _COL.items():
        Xt[i] = cols[name]
    X = np.ascontiguousarray(Xt.T)

    # --- label: from the float32 values the model will see ---
    seen = {name: Xt[i].astype(f64) for name, i in _COL.items()}
    p = _p_classic(seen) if d.concept < 1.0 else 0.0
    if d.concept > 0.0:
        p = (1.0 - d.concept) * p + d.concept * _p_takeover(seen)
    p = np.minimum(np.asarray(p, dtype=f64) * d.fraud_rate, 1.0)
    y = (u_label < p).astype(np.int8)

    ids = (np.int64(int(seed) % (1 << 31)) << np.int64(32)) | np.arange(n, dtype=np.int64)
    return Transactions(X, y, ids, d)

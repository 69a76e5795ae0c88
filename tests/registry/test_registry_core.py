"""The transport-free pieces: artifact store, score column rule, one-transaction writes."""

from __future__ import annotations

import pytest
from registry_helpers import Models, make_settings

from driftgate.errors import ArtifactError, InvalidRequest
from driftgate.registry.catalogue import catalogue as catalogue_module
from driftgate.registry.catalogue.artifacts import ArtifactStore
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.gateways import GatewayTracker
from driftgate.registry.catalogue.records import RegisterRequest
from driftgate.registry.catalogue.validation import choose_score
from driftgate.registry.store.db import Database
from driftgate.signature import Signature, TensorSpec


def test_artifact_store_round_trip_and_corruption(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ArtifactStore(tmp_path / "a")
    sha = store.put(b"hello")
    assert store.put(b"hello") == sha
    assert store.path(sha).parent.name == sha[:2]
    assert store.get(sha) == b"hello"
    assert not list(store.path(sha).parent.glob("*.tmp"))
    store.path(sha).write_bytes(b"hellO")
    with pytest.raises(ArtifactError, match="corrupted"):
        store.get(sha)
    assert store.put(b"hello") == sha  # a damaged copy is rewritten
    assert store.get(sha) == b"hello"
    with pytest.raises(ArtifactError, match="missing"):
        store.get("f" * 64)
    with pytest.raises(ArtifactError, match="not a sha256"):
        store.get("../../etc/passwd")


def _sig(*outputs: TensorSpec) -> Signature:
    return Signature((TensorSpec("x", "FP32", (-1, 3)),), outputs)


def test_score_column_rule() -> None:
    label = TensorSpec("label", "INT64", (-1,))
    assert choose_score(_sig(label, TensorSpec("p", "FP32", (-1, 2)))) == ("p", 1)
    assert choose_score(_sig(TensorSpec("p", "FP32", (-1, 1)))) == ("p", 0)
    assert choose_score(_sig(TensorSpec("p", "FP64", (-1,)))) == ("p", -1)
    assert choose_score(_sig(TensorSpec("p", "FP32", (-1, 3))), "p", 2) == ("p", 2)
    assert choose_score(_sig(TensorSpec("p", "FP32", (-1,))), "p", 5) == ("p", -1)
    with pytest.raises(InvalidRequest, match="pass score_output"):
        choose_score(_sig(TensorSpec("p", "FP32", (-1, 3))))
    with pytest.raises(InvalidRequest, match="no floating-point"):
        choose_score(_sig(label))
    with pytest.raises(InvalidRequest, match="floating point"):
        choose_score(_sig(label), "label", 0)


def test_a_failed_transaction_leaves_nothing(tmp_path, models: Models, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    db = Database.for_home(settings.home)
    changes: list[int] = []
    cat = Catalogue(db, ArtifactStore(settings.home / "artifacts"), settings, GatewayTracker(1.0), changes.append)
    cat.register_version(RegisterRequest(model="m", onnx=models.v1))
    assert changes == [1]

    def boom(conn):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(catalogue_module, "bump_generation", boom)
    with pytest.raises(RuntimeError):
        cat.register_version(RegisterRequest(model="m", onnx=models.v2))
    assert [v.version for v in cat.get_model("m").versions] == [1]
    assert len(cat.list_events()) == 1 and cat.generation() == 1 and changes == [1]
    db.dispose()

"""Secrets in retrain options stay secret: a credential-looking option and a URL's password reach the plugins as
given, and never appear in the audit events, the rollout and retrain answers, the retrain policy or the log."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from registry_helpers import Running, make_settings, register

from driftgate.proto.v1 import control_pb2 as cpb
from driftgate.proto.v1 import rollout_pb2, rollout_pb2_grpc
from driftgate.redact import MASK, redact, redact_text
from driftgate.settings import Settings

SECRETS = ("hunter2", "s3cret", "tok-123")
SOURCE, TRAINER = "rollout_plugins:recording_source", "rollout_plugins:recording_trainer"


def test_rules() -> None:
    assert redact({"password": "x", "API_KEY": "y", "dbPasswd": "z", "auth_token": "t", "rows": "5", "empty": ""}) \
        == {"password": MASK, "API_KEY": MASK, "dbPasswd": MASK, "auth_token": MASK, "rows": "5", "empty": ""}
    assert redact_text("at postgresql+psycopg://u:s3cret@h:5432/db and https://h/x") == \
        f"at postgresql+psycopg://u:{MASK}@h:5432/db and https://h/x"
    assert redact_text("s3://bucket/key") == "s3://bucket/key"


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, plugins=[SOURCE, TRAINER])


async def test_retrain_options_redacted_everywhere_but_the_plugin(
    registry: Running, models, tmp_path, caplog, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent))  # the trainer's child finds the plugin
    caplog.set_level(logging.DEBUG, logger="driftgate")
    await register(registry.stub, "fraud", models.v1)
    rollouts = rollout_pb2_grpc.RolloutsStub(registry.channel)
    data_record, trainer_record = tmp_path / "data.json", tmp_path / "trainer.json"
    data_options = {"password": "hunter2", "url": "postgresql://u:s3cret@h/db", "rows": "1000",
                    "record": str(data_record)}
    trainer_options = {"api_token": "tok-123", "record": str(trainer_record)}
    policy = await rollouts.SetRetrainPolicy(rollout_pb2.RetrainPolicy(
        model="fraud", triggers=["manual"], data_source=SOURCE, data_options=data_options, trainer=TRAINER,
        trainer_options=trainer_options))
    read = await rollouts.GetRetrainPolicy(rollout_pb2.GetRetrainPolicyRequest(model="fraud"))
    assert read.data_options["password"] == MASK and read.data_options["rows"] == "1000"
    # the CLI sends back what it read when it changes something else: the masked values keep the stored ones
    read.auto_rollout = True
    await rollouts.SetRetrainPolicy(read)
    run = await rollouts.Retrain(rollout_pb2.RetrainRequest(model="fraud", reason="test"))
    for _ in range(600):  # the trainer's child process records its options, then fails
        status = await rollouts.GetRollout(rollout_pb2.GetRolloutRequest(model="fraud"))
        if status.runs and status.runs[0].id == run.id and status.runs[0].state != "running":
            break
        await asyncio.sleep(0.1)
    assert status.runs[0].state == "failed" and "recorded" in status.runs[0].reason, status.runs[0]

    got = json.loads(data_record.read_text())["data_options"]
    assert got["password"] == "hunter2" and got["url"] == "postgresql://u:s3cret@h/db" and got["rows"] == "1000"
    assert json.loads(trainer_record.read_text())["trainer_options"]["api_token"] == "tok-123"

    events = await registry.stub.ListEvents(cpb.ListEventsRequest(model="fraud", limit=100))
    started = [e for e in events.events if e.kind == "retrain_started"]
    assert started and json.loads(started[0].details_json)["data_options"]["url"] == f"postgresql://u:{MASK}@h/db"
    answers = [str(x) for x in (policy, read, run, status, events,
                                await rollouts.GetRetrainPolicy(rollout_pb2.GetRetrainPolicyRequest(model="fraud")))]
    answers.append(caplog.text)
    for secret in SECRETS:
        assert not [a for a in answers if secret in a], secret

"""The driftgate.v1 Rollouts service: a thin adapter over the loop controller (retrain, rollouts, policies).

Each RPC converts its message, calls the core (blocking work in a worker thread) and converts back; errors map
to status codes in driftgate.grpc_edge.wrap_servicer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from driftgate.auth import audit_actor
from driftgate.errors import InvalidRequest
from driftgate.grpc_edge import wrap_servicer
from driftgate.proto.v1 import rollout_pb2 as pb
from driftgate.proto.v1 import rollout_pb2_grpc
from driftgate.redact import redact, redact_text
from driftgate.registry.loop.controller import LoopController
from driftgate.registry.loop.retrain import resolve_champion
from driftgate.registry.loop.rollout_db import RetrainPolicy, RetrainRun, RolloutRecord

__all__ = ["RolloutService", "run_pb"]


def run_pb(run: RetrainRun) -> pb.RetrainRunInfo:
    return pb.RetrainRunInfo(
        id=run.id, model=run.model, state=run.state, trigger=run.trigger, actor=run.actor, reason=run.reason,
        started_at=run.started_at, finished_at=run.finished_at, version=run.version, champion=run.champion,
        details_json=redact_text(json.dumps(run.details, sort_keys=True, default=str)),
    )


def rollout_pb(r: RolloutRecord) -> pb.RolloutInfo:
    return pb.RolloutInfo(
        id=r.id, model=r.model, champion=r.champion, challenger=r.challenger, state=r.state, step=r.step,
        steps=list(r.steps), step_started_at=r.step_started_at, paused=r.paused, reason=r.reason,
        created_at=r.created_at, updated_at=r.updated_at, gates_json=json.dumps(r.gates, sort_keys=True),
        actor=r.actor,
    )


def policy_pb(p: RetrainPolicy) -> pb.RetrainPolicy:
    return pb.RetrainPolicy(
        model=p.model, triggers=list(p.triggers), interval_s=p.interval_s, data_source=p.data_source,
        data_options=redact(p.data_options), trainer=p.trainer, trainer_options=redact(p.trainer_options),
        auto_rollout=p.auto_rollout,
    )


@wrap_servicer
class RolloutService(rollout_pb2_grpc.RolloutsServicer):
    def __init__(self, controller: LoopController) -> None:
        self._c = controller

    async def Retrain(self, request: pb.RetrainRequest, context: Any) -> pb.RetrainRunInfo:
        overrides: dict[str, Any] = {
            "data_source": request.data_source,
            "data_options": dict(request.data_options),
            "trainer": request.trainer,
            "trainer_options": dict(request.trainer_options),
            "force": request.force,
        }
        if request.no_rollout:
            overrides["auto_rollout"] = False
        run = await self._c.retrain(
            request.model, trigger="manual", actor=audit_actor(request.actor) or "unknown", reason=request.reason,
            overrides=overrides,
        )
        return run_pb(run)

    async def GetRollout(self, request: pb.GetRolloutRequest, context: Any) -> pb.RolloutStatus:
        return await asyncio.to_thread(self._status, request.model)

    def _status(self, model: str) -> pb.RolloutStatus:
        c = self._c
        champion = resolve_champion(c.catalogue, c.store, model)  # ModelNotFound
        current = c.rollouts.current(model)
        status = pb.RolloutStatus(
            model=model, champion=champion, runs=[run_pb(r) for r in c.store.runs(model, 5)],
            retrain_running=c.retrainer.running(model),
        )
        if current is not None:
            status.rollout.CopyFrom(rollout_pb(current))
        return status

    async def _act(self, name: str, request: pb.RolloutActionRequest) -> pb.RolloutStatus:
        fn = getattr(self._c.rollouts, name)
        await asyncio.to_thread(fn, request.model, audit_actor(request.actor) or "unknown", request.reason)
        return await asyncio.to_thread(self._status, request.model)

    async def Pause(self, request: pb.RolloutActionRequest, context: Any) -> pb.RolloutStatus:
        return await self._act("pause", request)

    async def Resume(self, request: pb.RolloutActionRequest, context: Any) -> pb.RolloutStatus:
        return await self._act("resume", request)

    async def Abort(self, request: pb.RolloutActionRequest, context: Any) -> pb.RolloutStatus:
        return await self._act("abort", request)

    async def Promote(self, request: pb.RolloutActionRequest, context: Any) -> pb.RolloutStatus:
        return await self._act("promote", request)

    async def Rollback(self, request: pb.RolloutActionRequest, context: Any) -> pb.RolloutStatus:
        return await self._act("rollback", request)

    async def GetRetrainPolicy(self, request: pb.GetRetrainPolicyRequest, context: Any) -> pb.RetrainPolicy:
        await asyncio.to_thread(self._c.catalogue.get_model, request.model)
        return policy_pb(await asyncio.to_thread(self._c.store.policy, request.model))

    async def SetRetrainPolicy(self, request: pb.RetrainPolicy, context: Any) -> pb.RetrainPolicy:
        if request.interval_s < 0:
            raise InvalidRequest("interval_s must not be negative")
        policy = RetrainPolicy(
            model=request.model, triggers=tuple(request.triggers) or ("manual",), interval_s=request.interval_s,
            data_source=request.data_source or "demo", data_options=dict(request.data_options),
            trainer=request.trainer or "demo", trainer_options=dict(request.trainer_options),
            auto_rollout=request.auto_rollout,
        )
        saved = await self._c.set_policy(policy, audit_actor(request.actor) or "unknown")
        return policy_pb(saved)

"""The control API's channel as both of its ends set it up: the registry's server, the gateways' link,
the CLI and any other client of driftgate.v1 (what the generated stubs do not say).

- ``CONTROL_MESSAGE_BYTES``: the largest message either way; models and reports with scored rows in
  bulk are large. The inference service has its own, much smaller limit
  (GatewaySettings.max_message_bytes).
- ``grpc_options()``: the channel and server options that set it.
- ``LEADER_SERVICE``: the grpc.health.v1 service SERVING on the registry replica that runs the loops
  (the leader) only; balancers, operators and benchmarks ask it which replica leads.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONTROL_MESSAGE_BYTES", "LEADER_SERVICE", "grpc_options"]

CONTROL_MESSAGE_BYTES = 256 * 1024 * 1024

LEADER_SERVICE = "driftgate.v1.Leader"


def grpc_options() -> list[tuple[str, Any]]:
    """Channel and server options of the control API: models can be large."""
    return [
        ("grpc.max_send_message_length", CONTROL_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", CONTROL_MESSAGE_BYTES),
    ]

"""The data plane: an Open Inference Protocol gRPC server scoring with onnxruntime sessions."""

from driftgate.gateway.dataplane import DataPlane, ServedModel
from driftgate.gateway.server import GatewayServer

__all__ = ["DataPlane", "GatewayServer", "ServedModel"]

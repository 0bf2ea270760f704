"""Generated gRPC stubs (see generate.sh), re-exported under stable names.

grpc_tools writes absolute imports (`from parley.asr.v1 import asr_pb2`), so
the directory holding the `parley/` package path must be on sys.path.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

from parley.asr.v1 import asr_pb2, asr_pb2_grpc  # noqa: E402

__all__ = ["asr_pb2", "asr_pb2_grpc"]

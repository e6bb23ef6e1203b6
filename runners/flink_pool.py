"""Beam's SDK worker pool, bound to 127.0.0.1 (``runner.sdk_workers=pool``).

``python -m runners.flink_pool PORT``: Beam's worker_pool_main, which
listens on every address, served on loopback only. Each worker Flink asks for
is a new ``python`` process (the first on PATH: runners/flink.py puts this
virtualenv first). Imports nothing of the project: it starts in a second.
"""

import logging
import os
import signal
import sys

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker import worker_pool_main
from apache_beam.utils import thread_pool_executor


def serve(port: int) -> None:
  logging.basicConfig(level=logging.WARNING)
  servicer = worker_pool_main.BeamFnExternalWorkerPoolServicer(
      use_process=True)
  server = grpc.server(thread_pool_executor.shared_unbounded_instance())
  server.add_insecure_port(f'127.0.0.1:{port}')
  beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
      servicer, server)
  server.start()

  def _stop(*_):
    for proc in list(servicer._worker_processes.values()):  # pylint: disable=protected-access
      worker_pool_main.kill_process_gracefully(proc)
    server.stop(0)
    os._exit(0)  # pylint: disable=protected-access

  signal.signal(signal.SIGTERM, _stop)
  signal.signal(signal.SIGINT, _stop)
  server.wait_for_termination()


if __name__ == '__main__':
  if len(sys.argv) != 2 or not sys.argv[1].isdigit():
    sys.exit('usage: python -m runners.flink_pool PORT')
  serve(int(sys.argv[1]))

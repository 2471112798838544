"""One process of a multi-process predictor preparation, for tests/test_distributed.py.

  python -m tests.predictor_worker COORDINATOR NUM_PROCESSES PROCESS_ID WORKDIR

Prepares the predictor of `tests.helpers.tiny_config()` as training does (process 0 trains and
saves it in WORKDIR/predictor, every process receives it) and writes the variables this process
received to WORKDIR/received_<PROCESS_ID>.npz, leaves in `jax.tree.leaves` order.
"""

import os
import sys

import jax
import numpy as np

from jaxgan import assembly
from jaxgan import distributed
from tests.helpers import tiny_config


def main(coordinator: str, num_processes: str, process_id: str, workdir: str) -> None:
  distributed.initialize('auto', coordinator, int(num_processes), int(process_id))
  config = tiny_config()
  data = assembly.load_data(config.data, workdir)
  _, variables = assembly.prepare_predictor(config, data, workdir)
  leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(variables)]
  np.savez(os.path.join(workdir, f'received_{process_id}.npz'), *leaves)


if __name__ == '__main__':
  main(*sys.argv[1:])

"""Multi-process (multi-host) training: starting `jax.distributed`, and who does what.

Starting (`initialize`, called by `jaxgan.main` before anything touches a device):
- `--coordinator=HOST:PORT --num_processes=N --process_id=I`, all three or none: starts
  `jax.distributed.initialize(HOST:PORT, N, I)`.
- none of them, `--distributed=auto` (the default): starts `jax.distributed.initialize()` (JAX
  reads the process count, index and coordinator from the launcher) only when a launcher of more
  than one process set its variables (`LAUNCHERS`): srun's SLURM_STEP_NUM_TASKS (only inside a job
  step, so a batch script that runs python without srun stays single-process) or mpirun's
  OMPI_COMM_WORLD_SIZE. Nothing else is probed: a Cloud TPU pod slice lists its workers in the
  metadata server, not in the environment, so it needs `--distributed=on`.
- `--distributed=on`: always `jax.distributed.initialize()`; `off`: never.

Who does what, once started:
- Devices: the step is pmap-ed over the first `train.num_devices` local devices (0 = all) of
  every process, process by process (`train.select_devices`): device d of process p is position
  p * n + d of the pmap axis, whose index counts over all processes.
- Data: the global batch's example indices are computed identically on every process (a pure
  function of seed and step); process p reads only its p-th of P equal parts, the rows of its own
  devices (`pipeline.training_batch`).
- Files: process 0 alone (`is_writer`) writes config.json, dataset.json, metrics.jsonl,
  TensorBoard events, samples and the progress line, and runs the periodic evaluation (its judge
  included). Every process runs every pmap-ed step, so no process runs a collective that another
  skips.
- Checkpoints: every process calls Orbax's save and restore. The state is saved as host numpy
  arrays, identical on every process; Orbax writes numpy leaves from process 0 only and every
  process reads the whole arrays back. The workdir must therefore be one shared filesystem that
  all processes see.
- Predictor: process 0 alone trains (or loads) and saves it; `from_process_zero` hands its exact
  variables to the other processes through a collective, so they read no files that process 0 may
  still be writing. The others wait in that collective meanwhile.
"""

import itertools
import os
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

PyTree = Any

MODES = ('auto', 'on', 'off')
# Variables by which multi-process launchers give the process count: launcher name.
LAUNCHERS = {'SLURM_STEP_NUM_TASKS': 'SLURM (srun)', 'OMPI_COMM_WORLD_SIZE': 'Open MPI (mpirun)'}


def initialize_arguments(mode: str, coordinator: str | None, num_processes: int | None,
                         process_id: int | None,
                         environ: Mapping[str, str] = os.environ) -> dict[str, Any] | None:
  """The keyword arguments of `jax.distributed.initialize` that the flags ask for, or None.

  Args:
    mode: `--distributed`: 'auto', 'on' or 'off' (see the module docstring).
    coordinator, num_processes, process_id: the explicit flags, all three or none (None).
    environ: the environment, for 'auto'.

  Returns:
    {} to let JAX detect the cluster, the three explicit arguments, or None not to start.
  """
  if mode not in MODES:
    raise ValueError(f'--distributed={mode!r}; choose one of {MODES}')
  explicit = {'coordinator_address': coordinator, 'num_processes': num_processes,
              'process_id': process_id}
  given = [value is not None for value in explicit.values()]
  if any(given) and not all(given):
    raise ValueError('--coordinator, --num_processes and --process_id go together: give all '
                     f'three or none (got coordinator={coordinator}, num_processes='
                     f'{num_processes}, process_id={process_id})')
  if all(given):
    if mode == 'off':
      raise ValueError('--distributed=off contradicts --coordinator/--num_processes/--process_id')
    if not 0 <= process_id < num_processes:
      raise ValueError(f'--process_id={process_id} must be in [0, --num_processes={num_processes})')
    return explicit
  if mode == 'on' or mode == 'auto' and launcher(environ):
    return {}
  return None


def launcher(environ: Mapping[str, str] = os.environ) -> str | None:
  """The name of the launcher that started more than one process with this one, or None."""
  for variable, name in LAUNCHERS.items():
    if int(environ.get(variable) or 1) > 1:
      return name
  return None


def initialize(mode: str = 'auto', coordinator: str | None = None,
               num_processes: int | None = None, process_id: int | None = None) -> bool:
  """Starts `jax.distributed` as `initialize_arguments` says; returns whether it started it."""
  arguments = initialize_arguments(mode, coordinator, num_processes, process_id)
  if arguments is None:
    return False
  jax.distributed.initialize(**arguments)
  return True


def on_process(devices: Sequence[jax.Device], index: int) -> list[jax.Device]:
  """Those of `devices` that belong to process `index`, in order."""
  return [device for device in devices if device.process_index == index]


def local_devices(devices: Sequence[jax.Device]) -> list[jax.Device]:
  """Those of `devices` that belong to this process, in order."""
  return on_process(devices, jax.process_index())


def is_writer() -> bool:
  """Whether this process writes the run's files and logs: process 0 only."""
  return jax.process_index() == 0


COMPUTE_TIMEOUT_S = 24 * 3600  # how long `from_process_zero` waits for process 0
_BARRIERS = itertools.count()  # a barrier's name may serve once: the calls are numbered


def from_process_zero(compute: Callable[[], PyTree], shapes: PyTree) -> PyTree:
  """`compute()` run on process 0 only, its result handed to every process.

  With several processes, every process must call this at the same point: the others wait at a
  barrier of the coordination service (up to COMPUTE_TIMEOUT_S) until process 0 has finished
  `compute`, then receive its result exactly, as host numpy arrays, in one collective. (Waiting
  in the collective itself failed on CPU with Gloo's connection timeout when process 0's
  `compute` ran long.)

  Args:
    compute: makes the pytree of arrays (may write files: it runs once).
    shapes: its shapes and dtypes (e.g. from `jax.eval_shape`), which the others send as zeros.
  """
  if jax.process_count() == 1:
    return compute()
  value = (compute() if is_writer()
           else jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes))
  ocp.multihost.get_barrier_sync_fn()(key=f'jaxgan_from_process_zero_{next(_BARRIERS)}',
                                      timeout_ms=COMPUTE_TIMEOUT_S * 1000)
  return multihost_utils.broadcast_one_to_all(value, is_source=is_writer())


def this_process_only() -> ocp.options.MultiprocessingOptions:
  """Orbax options for a checkpointer that one process uses alone (no barrier with the others).

  Such a checkpointer must save host numpy arrays, not device arrays: Orbax refuses a
  single-device array in a multi-process run.
  """
  index = jax.process_index()
  return ocp.options.MultiprocessingOptions(primary_host=index, active_processes={index})

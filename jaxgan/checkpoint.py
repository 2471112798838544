"""Orbax checkpoints of the training state: save every N steps, restore the latest or initialise.

States are saved unreplicated (one copy, on the host), so a run can resume on another device
count. Saves are asynchronous; `close()` waits for the last one.

Faults (decisions):
- A damaged checkpoint (truncated or missing files, e.g. a crash mid-write) does not restore:
  `restore_or` then tries the next older one, with a warning, and moves each damaged one that an
  older one replaced to `<workdir>/damaged_checkpoints/<step>` (kept for inspection, and out of
  the way of the step's new save). When checkpoints exist and none restores (a damaged history,
  or a state of another structure) it raises and moves nothing: it never starts from scratch
  silently.
- Disk space: before each save, the free space must hold the state's bytes plus
  `DISK_MARGIN`; otherwise, or when a write fails for lack of space, `DiskFullError` names the
  step and the folder. Orbax writes a step in a temporary folder and renames it when complete,
  and deletes old steps only after a successful save, so the earlier checkpoints stay intact.
"""

import contextlib
import errno
import os
import shutil
from typing import TypeVar

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from jaxgan import distributed

T = TypeVar('T')

DISK_MARGIN = 1.25  # free space needed before a save, as a multiple of the state's bytes
FOLDER = 'checkpoints'  # in the workdir
DAMAGED_FOLDER = 'damaged_checkpoints'  # next to FOLDER


class DiskFullError(OSError):
  """A checkpoint could not be written for lack of disk space."""


class Checkpointer:
  """Saves and restores pytrees of arrays under `<workdir>/checkpoints/<step>`."""

  def __init__(self, directory: str, max_to_keep: int):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, tree) -> None:
    """Saves `tree` (host arrays) as checkpoint `step`, asynchronously.

    Raises:
      DiskFullError: too little free space for it, or an earlier save failed for lack of space.
    """
    needed = DISK_MARGIN * sum(np.asarray(leaf).nbytes for leaf in jax.tree.leaves(tree))
    free = shutil.disk_usage(self.directory).free
    if free < needed:
      raise DiskFullError(errno.ENOSPC, f'not enough disk space for checkpoint {step} in '
                          f'{self.directory}: {free / 2**20:.1f} MiB free, {needed / 2**20:.1f} '
                          'MiB needed; the earlier checkpoints are intact: free some space and '
                          'run the same command again')
    with _disk_full_errors(f'checkpoint {step} in {self.directory}'):
      self._manager.save(step, args=ocp.args.StandardSave(tree))

  def restore_or(self, template: T) -> T:
    """The newest checkpoint that restores into `template`'s structure, or `template` if there
    are no checkpoints (see the module docstring for damaged ones)."""
    steps = sorted(self._manager.all_steps(), reverse=True)
    failures = []
    for step in steps:
      try:
        restored = self._manager.restore(step, args=ocp.args.StandardRestore(template))
      except Exception as error:  # pylint: disable=broad-except  # any damage: try an older one
        logging.warning('Checkpoint %d in %s does not restore (%s: %s); trying an older one',
                        step, self.directory, type(error).__name__, error)
        failures.append(step)
        continue
      self._set_aside(failures)
      logging.info('Restored checkpoint %d from %s', step, self.directory)
      return jax.tree.map(np.asarray, restored)
    if steps:
      raise RuntimeError(f'none of the checkpoints {steps} in {self.directory} restores into '
                         'this run\'s state (see the warnings above); not starting from scratch: '
                         'move the folder away to start anew')
    return template

  def close(self) -> None:
    """Waits for pending saves and releases the manager."""
    with _disk_full_errors(f'checkpoint {self.latest_step()} in {self.directory}'):
      self._manager.wait_until_finished()
    self._manager.close()

  def _set_aside(self, steps: list[int]) -> None:
    """Moves damaged steps to DAMAGED_FOLDER (a later save may write the same step again)."""
    if not steps:
      return
    if distributed.is_writer():  # one process moves them, the others wait for it
      damaged = os.path.join(os.path.dirname(self.directory), DAMAGED_FOLDER)
      os.makedirs(damaged, exist_ok=True)
      for step in steps:
        target = os.path.join(damaged, str(step))
        suffix = 1
        while os.path.exists(target):
          target, suffix = os.path.join(damaged, f'{step}.{suffix}'), suffix + 1
        shutil.move(os.path.join(self.directory, str(step)), target)
        logging.warning('Moved damaged checkpoint %d to %s', step, target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices('jaxgan: damaged checkpoints set aside')
    self._manager.reload()


def directory_of(workdir: str) -> str:
  """The folder of a run's checkpoints, absolute (Orbax refuses relative paths)."""
  return os.path.abspath(os.path.join(workdir, FOLDER))


def latest_saved_step(directory: str) -> int | None:
  """The newest complete checkpoint step under `directory` (None if there is none), read from
  the folder names without opening a manager (which would create the folder)."""
  if not os.path.isdir(directory):
    return None
  steps = ocp.utils.checkpoint_steps(directory)
  return max(steps) if steps else None


@contextlib.contextmanager
def _disk_full_errors(what: str):
  """Re-raises an error caused by a full disk as DiskFullError naming `what`."""
  try:
    yield
  except Exception as error:
    if _is_disk_full(error):
      raise DiskFullError(errno.ENOSPC, f'disk full while writing {what}: {error}; the earlier '
                          'checkpoints are intact: free some space and run the same command '
                          'again') from error
    raise


def _is_disk_full(error: BaseException) -> bool:
  """Whether `error` (or one it was raised from) reports a full disk: an OSError with ENOSPC, or
  TensorStore's message for it."""
  while error is not None:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
      return True
    if 'No space left on device' in str(error):
      return True
    error = error.__cause__ or error.__context__
  return False

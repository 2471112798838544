"""Orbax checkpoints of the training state: save every N steps, restore the latest or initialise.

States are saved unreplicated (one copy, on the host), so a run can resume on another device
count. Saves are asynchronous; `close()` waits for the last one.
"""

import os
from typing import TypeVar

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

T = TypeVar('T')


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
    """Saves `tree` (host arrays) as checkpoint `step`, asynchronously."""
    self._manager.save(step, args=ocp.args.StandardSave(tree))

  def restore_or(self, template: T) -> T:
    """The latest checkpoint restored into `template`'s structure, or `template` if none exists."""
    step = self.latest_step()
    if step is None:
      return template
    logging.info('Restoring checkpoint %d from %s', step, self.directory)
    restored = self._manager.restore(step, args=ocp.args.StandardRestore(template))
    return jax.tree.map(np.asarray, restored)

  def close(self) -> None:
    """Waits for pending saves and releases the manager."""
    self._manager.wait_until_finished()
    self._manager.close()

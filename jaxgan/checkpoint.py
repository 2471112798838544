"""Orbax checkpoints of the training state: save every N steps, restore the latest or initialise.

States are saved unreplicated (one copy, on the host), so a run can resume on another device
count. Saves are asynchronous; `close()` waits for the last one.

Faults (decisions):
- A damaged checkpoint (truncated or missing files, e.g. a crash mid-write) does not restore:
  `restore_or` then tries the next older one, with a warning, and moves each damaged one that an
  older one replaced to `<workdir>/damaged_checkpoints/<step>` (kept for inspection, and out of
  the way of the step's new save). When checkpoints exist and none restores (a damaged history,
  or a state of another structure) it raises and moves nothing: it never starts afresh
  silently.
- Disk space: before each save, the free space must hold the state's bytes plus
  `DISK_MARGIN`; otherwise, or when a write fails for lack of space, `DiskFullError` names the
  step and the folder. Orbax writes a step in a temporary folder and renames it when complete,
  and deletes old steps only after a successful save, so the earlier checkpoints stay intact.

Restoring a trained run outside training (`restore_state`, `load_generator`: `jaxgan.generate`,
`jaxgan.evaluate`): the run's config.json (fields added since take their defaults) and
dataset.json give the state's shapes and the normalisation; the checkpoint of a chosen step
restores into them, read only. Without a chosen step, the newest checkpoint that restores does:
damaged newer ones are skipped with a warning naming them and why, and left where they are (the
next training run sets them aside). A chosen step that does not restore is an error naming the
newest one that does. A missing, truncated or invalid config.json or dataset.json is one
error naming the file. `TrainedGenerator` is the generator of such a state with what turns its
outputs into photoelectrons (`jaxgan.generation`, `jaxgan.evaluation.telescope`).
"""

import contextlib
import dataclasses
import errno
import functools
import json
import os
import shutil
from typing import Any, TypeVar

import flax.linen as nn
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from jaxgan import assembly
from jaxgan import camera as camera_lib
from jaxgan import configs
from jaxgan import distributed
from jaxgan import state as state_lib
from jaxgan.data import dataset as data_lib
from jaxgan.data import pipeline

T = TypeVar('T')

DISK_MARGIN = 1.25  # free space needed before a save, as a multiple of the state's bytes
FOLDER = 'checkpoints'  # in the workdir
DAMAGED_FOLDER = 'damaged_checkpoints'  # next to FOLDER


class DiskFullError(OSError):
  """A checkpoint could not be written for lack of disk space."""


class Checkpointer:
  """Saves and restores pytrees of arrays under `<workdir>/checkpoints/<step>`.

  `read_only=True` opens the folder of a finished run for `first_intact` only: nothing is
  created, saved, moved or deleted.
  """

  def __init__(self, directory: str, max_to_keep: int | None = None, read_only: bool = False):
    self.directory = os.path.abspath(directory)
    self._max_to_keep, self._read_only = max_to_keep, read_only
    self._manager = self._new_manager()

  def _new_manager(self) -> ocp.CheckpointManager:
    if self._read_only:
      options = ocp.CheckpointManagerOptions(read_only=True, create=False)
    else:
      options = ocp.CheckpointManagerOptions(max_to_keep=self._max_to_keep, create=True)
    return ocp.CheckpointManager(self.directory, options=options,
                                 item_handlers=ocp.StandardCheckpointHandler())

  def all_steps(self) -> list[int]:
    """The saved steps, newest first."""
    return sorted(self._manager.all_steps(), reverse=True)

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

  def first_intact(self, template: T,
                   steps: list[int]) -> tuple[T | None, int | None, dict[int, str]]:
    """The first of `steps` that restores into `template`'s structure (host arrays), its step,
    and the steps tried before it that did not, with why (each logged as a warning); None and
    None for the first two when none restores. Moves nothing."""
    failures = {}
    for step in steps:
      try:
        restored = self._restore(step, template)
      except Exception as error:  # pylint: disable=broad-except  # any damage: try the next one
        failures[step] = _one_line(error)
        logging.warning('Checkpoint %d in %s does not restore (%s)', step, self.directory,
                        failures[step])
        # A failed restore can leave the manager refusing every other step (a step without
        # its item folder makes it expect several items): start the next try afresh.
        self._manager.close()
        self._manager = self._new_manager()
        continue
      return jax.tree.map(np.asarray, restored), step, failures
    return None, None, failures

  def _restore(self, step: int, template: T) -> T:
    """Checkpoint `step` restored into `template`; a `GANState` saved before some of
    `state_lib.LATER_FIELDS` existed gets their stand-ins."""
    if not isinstance(template, state_lib.GANState):
      return self._manager.restore(step, args=ocp.args.StandardRestore(template))
    saved = self._manager.item_metadata(step).tree
    missing = [name for name in state_lib.LATER_FIELDS if name not in saved]
    fields = {field.name: getattr(template, field.name)
              for field in dataclasses.fields(template)}
    present = {name: value for name, value in fields.items() if name not in missing}
    restored = self._manager.restore(step, args=ocp.args.StandardRestore(present))
    for name in missing:
      stand_in = restored[state_lib.LATER_FIELDS[name]]
      restored[name] = stand_in if jax.tree.leaves(fields[name]) else fields[name]
    if missing:
      logging.warning('Checkpoint %d in %s predates the state fields %s: using %s', step,
                      self.directory, missing, {name: state_lib.LATER_FIELDS[name]
                                                for name in missing})
    return template.replace(**restored)

  def restore_or(self, template: T) -> T:
    """The newest checkpoint that restores into `template`'s structure, or `template` if there
    are no checkpoints (see the module docstring for damaged ones)."""
    steps = self.all_steps()
    restored, step, failures = self.first_intact(template, steps)
    if step is None:
      if steps:
        raise RuntimeError(f'none of the checkpoints {steps} in {self.directory} restores into '
                           'this run\'s state (see the warnings above); not starting afresh: '
                           'move the folder away to start anew')
      return template
    self._set_aside(list(failures))
    logging.info('Restored checkpoint %d from %s', step, self.directory)
    return restored

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


def _one_line(error: BaseException) -> str:
  """`error` as one line: its type and the first line of its message."""
  lines = str(error).strip().splitlines()
  return f'{type(error).__name__}: {lines[0] if lines else ""}'


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


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
  """A run's generator, restored from a checkpoint, with what turns its outputs into data.

  Attributes:
    workdir: the training run's directory.
    module: the generator (no pmap axis).
    variables: its variables for sampling (EMA parameters when the run keeps them).
    latent_dim, label_dim: sizes of its two inputs (label_dim 0: unconditional).
    normalisation: network units -> photoelectrons (`.inverse`).
    image_shape: (H, W, C).
    camera: the camera of the data it learned (pixel size, cleaning levels).
    step: the checkpoint's step.
    ema: whether `variables` hold EMA parameters.
  """
  workdir: str
  module: nn.Module
  variables: Any
  latent_dim: int
  label_dim: int
  normalisation: pipeline.Normalisation
  image_shape: tuple[int, int, int]
  camera: camera_lib.Camera
  step: int
  ema: bool


def _tuples(value: Any) -> Any:
  """JSON lists back into the tuples the config held (recursively)."""
  if isinstance(value, dict):
    return {key: _tuples(item) for key, item in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(item) for item in value)
  return value


def read_json(workdir: str, name: str) -> dict:
  """The JSON object in `<workdir>/<name>`; a missing, truncated or invalid file is one error
  naming it."""
  path = os.path.join(workdir, name)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{workdir}: no {name}; not a jaxgan run directory (train one with '
                            'python -m jaxgan.main)')
  with open(path, 'rb') as f:
    try:
      saved = json.load(f)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
      raise ValueError(f'{path}: not valid JSON ({error}); the file is damaged (a copy cut '
                       'short?): restore it from a copy of the run') from error
  if not isinstance(saved, dict):
    raise ValueError(f'{path}: a JSON {type(saved).__name__}, expected an object; restore the '
                     'file from a copy of the run')
  return saved


def _merged(defaults: dict, saved: dict, prefix: str, filled: list[str]) -> dict:
  """`saved` with the fields it lacks taken from `defaults` (their names added to `filled`)."""
  merged = dict(saved)
  for name, default in defaults.items():
    if name not in saved:
      merged[name] = default
      filled.append(prefix + name)
    elif isinstance(default, dict) and isinstance(saved[name], dict):
      merged[name] = _merged(default, saved[name], f'{prefix}{name}.', filled)
  return merged


def check_run_directory(workdir: str) -> None:
  """Raises FileNotFoundError, naming it, when `workdir` is no directory."""
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f'{workdir}: no such run directory')


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's `config.json`, for a telescope dataset (others are refused).

  Fields added to `configs.telescope` after the run was trained take their defaults (logged).
  """
  check_run_directory(workdir)
  filled = []
  saved = _tuples(read_json(workdir, 'config.json'))
  config = ml_collections.ConfigDict(_merged(configs.telescope().to_dict(), saved, '', filled))
  if filled:
    logging.warning('%s/config.json predates the fields %s: using their defaults', workdir,
                    filled)
  if data_lib.get_dataset(config.data.name).camera is None:
    raise ValueError(f'{workdir}: the run learned data.name={config.data.name!r}, without a '
                     'camera; jaxgan.generate writes telescope images only')
  return config


def _restore(directory: str, template: Any, step: int | None) -> tuple[Any, int]:
  """Checkpoint `step` of `directory` restored into `template` (host arrays), and its step; step
  None: the newest that restores. Read only: damaged checkpoints are skipped, never moved.

  Raises:
    FileNotFoundError: no checkpoint in `directory`.
    ValueError: no checkpoint `step`, or it does not restore (naming the newest that does), or
      none restores.
  """
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'{directory}: no checkpoint; the run has not saved one yet')
  reader = Checkpointer(directory, read_only=True)
  try:
    available = reader.all_steps()
    if not available:
      raise FileNotFoundError(f'{directory}: no checkpoint; the run has not saved one yet')
    if step is None:
      return _restore_newest(reader, template, available)
    if step not in available:
      raise ValueError(f'{directory}: no checkpoint at step {step}; available: '
                       f'{sorted(available)}')
    return _restore_chosen(reader, template, step, available)
  finally:
    reader.close()


def _restore_newest(reader: Checkpointer, template: Any, steps: list[int]) -> tuple[Any, int]:
  """The newest of `steps` (newest first) that restores, and its step; the skipped ones named in
  a warning."""
  restored, step, failures = reader.first_intact(template, steps)
  if step is None:
    raise ValueError(f'{reader.directory}: none of the checkpoints {steps} restores (see the '
                     f'warnings above; {steps[0]}: {failures[steps[0]]})')
  if failures:
    logging.warning('Using checkpoint %d of %s, the newest that restores; skipped %s, left as '
                    'they are', step, reader.directory,
                    '; '.join(f'{bad} ({why})' for bad, why in failures.items()))
  return restored, step


def _restore_chosen(reader: Checkpointer, template: Any, step: int,
                    steps: list[int]) -> tuple[Any, int]:
  """Checkpoint `step` restored, and `step`; when it does not restore, an error naming the
  newest of the other `steps` (newest first) that does."""
  restored, _, failures = reader.first_intact(template, [step])
  if not failures:
    return restored, step
  others = [other for other in steps if other != step]
  _, intact, _ = reader.first_intact(template, others)
  if intact is not None:
    advice = f'the newest that restores is {intact}: give --step={intact}, or no step'
  elif others:
    advice = f'none of the others {others} restores either'
  else:
    advice = 'the run has no other checkpoint'
  raise ValueError(f'{reader.directory}: checkpoint {step} does not restore ({failures[step]}); '
                   f'{advice}')


def _state_template(config: ml_collections.ConfigDict,
                    image_shape: tuple[int, ...]) -> state_lib.GANState:
  """Zeros shaped like the run's state, built as `train.train_and_evaluate` builds it (shapes
  only: `jax.eval_shape` skips the costly initialisation)."""
  shapes = jax.eval_shape(functools.partial(assembly.initial_state, config, image_shape),
                          assembly.predictor_shapes(config, image_shape))
  return jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes)


def _generator_label_dim(config: ml_collections.ConfigDict) -> int:
  """Columns of the label vector the generator takes: the telescope labels, or none."""
  conditions = assembly.conditioning_of(config)
  if conditions.codes:
    raise ValueError(f'model.conditioning={config.model.conditioning!r}: the generator takes '
                     'latent codes, not telescope labels; generating for labels makes no sense')
  if 'none' in conditions.modes:
    logging.warning('The run is unconditional: its images ignore the labels stored with them')
  return conditions.generator_label_dim


def restore_state(workdir: str, step: int | None = None) -> tuple[ml_collections.ConfigDict,
                                                                   state_lib.GANState, int]:
  """The config of the run in `workdir`, its whole state (host arrays) at checkpoint `step`
  (None: the latest), and that step."""
  config = load_config(workdir)
  image_shape = tuple(read_json(workdir, 'dataset.json')['image_shape'])
  state, step = _restore(directory_of(workdir), _state_template(config, image_shape),
                         step)
  return config, state, step


def trained_generator(workdir: str, config: ml_collections.ConfigDict, state: state_lib.GANState,
                      step: int) -> TrainedGenerator:
  """The generator of `state`, a state of the telescope run in `workdir` at `step`."""
  facts = read_json(workdir, 'dataset.json')
  generator, _ = assembly.build_networks(config)
  return TrainedGenerator(
      workdir=workdir, module=generator, variables=state.sampling_variables,
      latent_dim=config.model.latent_dim, label_dim=_generator_label_dim(config),
      normalisation=pipeline.Normalisation(facts['image_scale'], facts['transform']),
      image_shape=tuple(facts['image_shape']), camera=data_lib.camera_of(config.data),
      step=step, ema=bool(state.generator_ema_params))


def load_generator(workdir: str, step: int | None = None) -> TrainedGenerator:
  """The generator of the run in `workdir` at checkpoint `step` (None: the latest)."""
  return trained_generator(workdir, *restore_state(workdir, step))

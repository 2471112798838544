"""The one training loop: restore-or-initialise, iterate, log, sample, checkpoint.

Everything experiment-specific (model, loss, data, predictor) comes from the config and plugs in
through registries; this file knows none of them by name. With several processes, all run every
step and checkpoint together and process 0 alone writes the other files (`jaxgan.distributed`).

Workdir layout:
  .lock                  held by the run while it trains: a second run is refused (`locks`)
  config.json            the run's configuration, written once the config, the data and the
                         model passed their checks (a run of another configuration is then
                         refused: `check_claim`)
  dataset.json           dataset facts the run depends on (normalisation, shapes, split sizes)
  predictor/             the pretrained auxiliary predictor (unless `predictor.checkpoint` is set;
                         frozen, or the start of one trained alongside, in the checkpoints)
  checkpoints/<step>/    Orbax checkpoints of the GAN state (damaged ones are moved to
                         damaged_checkpoints/: jaxgan/checkpoint.py)
  metrics.jsonl, tensorboard/, samples/   see jaxgan/logs.py
  eval/judge/            the evaluation's judge, when `eval.every` > 0 (jaxgan/evaluation/)
  eval/progress.png      those evaluations against iterations and training minutes
                         (`plots.progress_png`)
"""

import contextlib
import dataclasses
import os
import signal
import threading
import time
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from jaxgan import assembly
from jaxgan import checkpoint
from jaxgan import configs
from jaxgan import distributed
from jaxgan import locks
from jaxgan import image_samplers
from jaxgan import logs
from jaxgan import losses
from jaxgan import predictor_training
from jaxgan import state as state_lib
from jaxgan import steps
from jaxgan.data import dataset as data_lib
from jaxgan.data import pipeline
from jaxgan.evaluation import judge as judge_lib
from jaxgan.evaluation import plots
from jaxgan.evaluation import telescope


NONFINITE_MODES = ('stop', 'skip')  # `train.nonfinite`
POSITIVE, NON_NEGATIVE, FRACTION = '(0, inf)', '[0, inf)', '[0, 1)'
COUNT = '[1, inf)'
# Fields whose values outside these intervals would train silently wrong, or fail late
# (`configs.check_bounds`; tuples element by element).
BOUNDS = (
    *((f'model.{field}', COUNT) for field in ('image_size', 'latent_dim', 'generator_base_shape',
                                              'generator_features', 'critic_features')),
    ('model.critic_dropout', FRACTION), ('model.generator_noise_head', NON_NEGATIVE),
    ('model.generator_output_bound', NON_NEGATIVE), ('model.critic_block_dropout', FRACTION),
    ('model.critic_head_dropout', FRACTION), ('model.batchnorm_momentum', FRACTION),
    ('model.batchnorm_epsilon', POSITIVE), ('model.info_categorical', NON_NEGATIVE),
    ('model.info_continuous', NON_NEGATIVE),
    *((f'loss.{field}', NON_NEGATIVE) for field in ('gp_weight', 'r1_gamma', 'clip', 'info_weight',
                                                    'adversarial_weight')),
    ('loss.r1_every', COUNT), ('loss.label_smoothing', FRACTION),
    ('optimizer.generator_learning_rate', POSITIVE), ('optimizer.critic_learning_rate', POSITIVE),
    ('optimizer.b1', FRACTION), ('optimizer.b2', FRACTION), ('optimizer.eps', NON_NEGATIVE),
    *((f'train.{field}', COUNT) for field in ('num_steps', 'batch_size', 'n_critic', 'log_every',
                                              'sample_every', 'checkpoint_every', 'max_to_keep')),
    ('train.num_epochs', NON_NEGATIVE), ('train.num_devices', NON_NEGATIVE),
    ('train.ema_decay', FRACTION),
    ('data.num_examples', COUNT), ('data.validation_fraction', FRACTION),
    ('data.image_scale', NON_NEGATIVE), ('data.min_intensity_pe', NON_NEGATIVE),
    ('data.max_leakage', '[0, 1]'),
    *((f'predictor.{field}', COUNT) for field in ('stage_widths', 'blocks_per_stage', 'se_ratio',
                                                  'head_widths', 'num_steps', 'batch_size',
                                                  'log_every')),
    ('predictor.learning_rate', POSITIVE),
    ('eval.every', NON_NEGATIVE),
)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
  """Training stopped on SIGTERM or SIGINT after saving the checkpoint of `step`."""

  def __init__(self, step: int, signum: int):
    super().__init__(f'stopped by {signal.Signals(signum).name} at step {step}, its checkpoint '
                     'saved: run the same command again to continue')
    self.step, self.signum = step, signum


def select_devices(num_devices: int) -> list[jax.Device]:
  """The devices the step is pmap-ed over: the first `num_devices` local devices of every process
  (0: all of them, or as many as the process with the fewest has), process by process.

  Every process gets the same list, as `jax.pmap` requires; with one process, its local devices.
  """
  by_process = [distributed.on_process(jax.devices(), index)
                for index in range(jax.process_count())]
  fewest = min(len(devices) for devices in by_process)
  if num_devices < 0:
    raise ValueError(f'train.num_devices={num_devices} must lie in [0, inf) (0: all devices)')
  if num_devices > fewest:
    raise ValueError(f'train.num_devices={num_devices} but only {fewest} local devices '
                     f'exist: {jax.local_devices()}')
  return [device for devices in by_process for device in devices[:num_devices or fewest]]


def check_config(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Fails early, naming the field, on values that would only break later."""
  configs.check_bounds(config, BOUNDS)
  if config.train.batch_size % num_devices:
    raise ValueError(f'train.batch_size={config.train.batch_size} does not split evenly over '
                     f'{num_devices} devices')
  losses.get_adversarial_loss(config.loss.name, config.loss.label_smoothing,
                              config.loss.smooth_generator_target)
  assembly.penalty_from_config(config.loss)
  assembly.check_step_modes(config.train)
  assembly.conditioning_of(config).check(config.loss.label_weights)
  if config.model.spectral_norm not in assembly.SPECTRAL_NORM:
    raise ValueError(f'model.spectral_norm={config.model.spectral_norm!r}; choose one of '
                     f'{assembly.SPECTRAL_NORM}')
  if config.train.dtype not in assembly.DTYPES:
    raise ValueError(f'train.dtype={config.train.dtype!r}; choose one of {assembly.DTYPES}')
  for field, choices in (('schedule', predictor_training.SCHEDULES),
                         ('regression_loss', losses.REGRESSION_LOSSES)):
    if config.predictor[field] not in choices:
      raise ValueError(f'predictor.{field}={config.predictor[field]!r}; choose one of '
                       f'{sorted(choices)}')
  if config.train.nonfinite not in NONFINITE_MODES:
    raise ValueError(f'train.nonfinite={config.train.nonfinite!r}; choose one of '
                     f'{NONFINITE_MODES}')
  if config.data.online_simulation:
    data_lib.simulator_of(config.data)  # fails for a dataset that has no simulator
  _check_eval_config(config)


def _check_eval_config(config: ml_collections.ConfigDict) -> None:
  if not config.eval.every:
    return
  if data_lib.get_dataset(config.data.name).camera is None:
    raise ValueError(f'eval.every={config.eval.every}: evaluation during training is for '
                     f'telescope data, with a camera; data.name={config.data.name!r} has none '
                     '(set eval.every=0)')
  if config.eval.num < telescope.MIN_IMAGES:
    raise ValueError(f'eval.num must be >= {telescope.MIN_IMAGES}, got {config.eval.num}')


def saved_config_differences(config: ml_collections.ConfigDict,
                             workdir: str) -> dict[str, tuple[Any, Any]]:
  """`configs.differences` between the run saved in `workdir` (its config.json) and `config`;
  empty when `workdir` holds no run."""
  if not os.path.exists(os.path.join(workdir, 'config.json')):
    return {}
  return configs.differences(checkpoint.read_json(workdir, 'config.json'), config)


def check_claim(config: ml_collections.ConfigDict, workdir: str,
                allow_config_change: bool = False) -> dict[str, tuple[Any, Any]]:
  """Refuses a workdir that holds a run of another configuration; returns the differences.

  Fields in `configs.CONTINUATION_FIELDS` (length, logging cadence) may change, and with
  `allow_config_change` any field may.
  """
  differing = saved_config_differences(config, workdir)
  if differing and not allow_config_change:
    raise ValueError(f'{workdir} holds a run of another configuration; fields (saved -> now):\n'
                     f'{configs.describe_differences(differing)}\nUse another --workdir, or '
                     '--allow_config_change to continue this run with the new values.')
  return differing


def claim_workdir(config: ml_collections.ConfigDict, workdir: str,
                  allow_config_change: bool = False) -> None:
  """Writes `config.json` once `check_claim` passes: the run is under way from then on. With
  `allow_config_change`, the old file is kept as `config.replaced-<UTC time>.json`."""
  path = os.path.join(workdir, 'config.json')
  differing = check_claim(config, workdir, allow_config_change)
  if differing:
    if distributed.is_writer():
      kept = os.path.join(workdir, time.strftime('config.replaced-%Y%m%dT%H%M%SZ.json',
                                                 time.gmtime()))
      os.replace(path, kept)
      logging.warning('Continuing %s with a changed configuration (old one kept in %s):\n%s',
                      workdir, kept, configs.describe_differences(differing))
  if distributed.is_writer():  # atomically: the other processes may be reading it
    with open(path + '.tmp', 'w') as f:
      f.write(config.to_json_best_effort(indent=2))
    os.replace(path + '.tmp', path)


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything the loop needs besides the state: built once by `train_and_evaluate`."""
  config: ml_collections.ConfigDict
  workdir: str
  devices: list[jax.Device]
  step_config: steps.StepConfig
  predictor_variables: Any
  data: assembly.RunData
  checkpointer: checkpoint.Checkpointer
  sampler: Any  # `image_samplers.make_sampler`: has `write(...)`
  evaluator: telescope.PeriodicEvaluation | None  # None when `eval.every` is 0
  num_steps: int
  steps_per_epoch: int
  data_on_device: bool  # the training split is on every device; batches are row indices


def make_sampler(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                 generator: nn.Module, data: assembly.RunData) -> Any:
  """The fixed-noise sampler of the dataset's sample grid (`image_samplers.make_sampler`)."""
  return image_samplers.make_sampler(
      dataset.grid, generator, config.model.latent_dim,
      assembly.conditioning_of(config).generator_spec, data.train, data.validation, config.seed,
      camera=data_lib.camera_of(config.data))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       allow_config_change: bool = False) -> state_lib.GANState:
  """Trains a GAN as `config` says, in `workdir`, resuming from its latest checkpoint.

  Args:
    config: the experiment's config.
    workdir: the run's folder (layout in the module docstring).
    allow_config_change: continue a run of `workdir` saved with another config (`claim_workdir`).

  Returns:
    The final state (host arrays, one copy).

  Raises:
    FloatingPointError: a non-finite loss, gradient or metric with `train.nonfinite='stop'`,
      before anything of that step is saved.
    Preempted: SIGTERM or SIGINT arrived; the checkpoint of the current step is saved.
    checkpoint.DiskFullError: a checkpoint did not fit on the disk; earlier ones are intact.
    locks.Busy: another training run holds `workdir`.
  """
  os.makedirs(workdir, exist_ok=True)
  # Process 0 holds the workdir for the whole run; the others of a multi-process run share it.
  with (locks.held(workdir, 'a training run') if distributed.is_writer()
        else contextlib.nullcontext()):
    return _train(config, workdir, allow_config_change)


def _train(config: ml_collections.ConfigDict, workdir: str,
           allow_config_change: bool) -> state_lib.GANState:
  """`train_and_evaluate` once the workdir is held."""
  devices = select_devices(config.train.num_devices)
  check_config(config, len(devices))
  check_claim(config, workdir, allow_config_change)
  logging.info('Training on %d device(s): %s', len(devices), devices)

  dataset = data_lib.get_dataset(config.data.name)
  data = assembly.load_data(config.data, workdir)
  assembly.check_model_fits_data(config, data)
  _check_partial_batch(config, len(data.train), len(devices))
  # config.json marks a run under way: a start refused above leaves the workdir open to another.
  claim_workdir(config, workdir, allow_config_change)
  if config.data.online_simulation:
    on_device = False  # nothing to keep there: the step makes its examples
    logging.info('Training examples simulated on the devices, afresh for every batch')
  else:
    on_device = pipeline.keep_on_devices(config.train.data_on_device, data.train,
                                         len(devices) // jax.process_count(),
                                         device_memory(devices))
    logging.info('Training examples %s: %.1f MB in network units', 'on every device' if on_device
                 else 'sent batch by batch', pipeline.device_bytes(data.train) / 1e6)
  conditions = assembly.conditioning_of(config)
  predictor, predictor_variables = (assembly.prepare_predictor(config, data, workdir)
                                    if conditions.uses_predictor else (None, {}))
  step_config = assembly.build_step_config(config, predictor, data.normalisation)
  initial = assembly.initial_state(config, data.train.image_shape, predictor_variables)
  sample_generator, _ = assembly.build_networks(config)  # without the pmap axis
  checkpointer = checkpoint.Checkpointer(checkpoint.directory_of(workdir),
                                         config.train.max_to_keep)
  steps_per_epoch = pipeline.steps_per_epoch(len(data.train), config.train.batch_size,
                                             config.train.keep_partial_batch)
  num_steps = config.train.num_epochs * steps_per_epoch or config.train.num_steps
  evaluator = (telescope.PeriodicEvaluation(config, workdir, data)
               if config.eval.every and distributed.is_writer() else None)
  # A predictor trained alongside lives in the state; the step's argument is for a frozen one.
  frozen_predictor = {} if step_config.predictor_tx else predictor_variables
  run = Run(config, workdir, devices, step_config, frozen_predictor, data, checkpointer,
            make_sampler(config, dataset, sample_generator, data), evaluator, num_steps,
            steps_per_epoch, on_device)
  try:
    state = _loop(run, checkpointer.restore_or(initial))
  finally:
    checkpointer.close()
  if distributed.is_writer():
    logs.save_animation(os.path.join(workdir, 'samples'),
                        os.path.join(workdir, 'samples', 'progress.gif'))
    if evaluator is not None:
      plots.progress_png(logs.read_metrics(workdir),
                         os.path.join(workdir, judge_lib.EVAL_DIR, 'progress.png'))
  return state


def _loop(run: Run, state: state_lib.GANState) -> state_lib.GANState:
  """Runs iterations from the state's step to `train.num_steps`; returns the final host state.

  Each iteration's metrics are checked (`NonFiniteGuard`) once the next iteration is queued, so
  the host never idles the devices, and at once where the step logs, samples, saves or
  evaluates: nothing non-finite is written in 'stop' mode.
  """
  train_cfg, num_steps = run.config.train, run.num_steps
  first_step = int(state.step)
  if first_step >= num_steps:
    logging.info('Nothing to do: the checkpoint is at step %d of %d', first_step, num_steps)
    return state
  iteration = steps.make_parallel_iteration(run.step_config, run.devices)
  replicated = steps.replicate(state, run.devices)
  replicated_predictor = steps.replicate(run.predictor_variables, run.devices)
  resident = (steps.replicate(pipeline.resident_examples(run.data.train, run.data.normalisation),
                              run.devices) if run.data_on_device else None)
  is_writer = distributed.is_writer()  # the others run every step and checkpoint, write nothing
  writer = logs.MetricWriter(run.workdir, first_step) if is_writer else None
  # only the evaluation rows carry it (`run.evaluator` exists on the writer only)
  clock = logs.TrainingClock(run.workdir, first_step) if run.evaluator is not None else None
  progress = logs.Progress(first_step, num_steps)
  guard = NonFiniteGuard(train_cfg.nonfinite, int(state.nonfinite_updates))
  unchecked = None  # (step, metrics) of the previous iteration
  try:
    with stop_requests() as received:
      for step in range(first_step, num_steps):
        batch = _batch(run, step, resident)
        replicated, metrics = iteration(replicated, batch, replicated_predictor)
        if unchecked:
          guard.check(*unchecked)  # waits for the previous iteration only
        done = step + 1
        unchecked = (done, metrics)
        epoch_end = done % run.steps_per_epoch == 0
        stop = _stop_signal(received, done)
        count, sample_count = _period_counts(train_cfg, done, run.steps_per_epoch)
        log = _due(count, train_cfg.log_every, done, num_steps) or done == first_step + 1
        sample = is_writer and (_due(sample_count, train_cfg.sample_every, done, num_steps)
                                or epoch_end and train_cfg.sample_each_epoch)
        save = (_due(count, train_cfg.checkpoint_every, done, num_steps)
                or epoch_end and train_cfg.checkpoint_each_epoch or stop is not None)
        assess = (run.evaluator is not None
                  and _due(count, run.config.eval.every, done, num_steps))
        if not (log or sample or save or assess):
          continue
        scalars, unchecked = guard.check(*unchecked), None
        if log and is_writer:
          writer.write_scalars(done, scalars)
          progress.report(done, scalars)
        host_state = _host_state(replicated) if sample or save or assess else None  # one copy
        if sample:
          response = run.sampler.write(host_state, done, run.workdir, writer,
                                       run.data.normalisation)
          logging.info('Sample grid at step %d: %s', done, response)
        if assess:  # before the save: a resume purges the rows past its checkpoint
          began = time.perf_counter()
          scores = run.evaluator(host_state, done)
          clock.exclude(time.perf_counter() - began)
          writer.write_scalars(done, {**scores, logs.TRAIN_SECONDS: clock.seconds()})
          logging.info('Evaluation at step %d: %s', done,
                       {name: scores.get(f'eval_{name}') for name in telescope.HEADLINE})
        if save:
          run.checkpointer.save(done, host_state)
        if stop is not None and done < num_steps:
          raise Preempted(done, stop)
  finally:
    if is_writer:
      writer.close()
  return _host_state(replicated)


def _batch(run: Run, step: int, resident: Any) -> dict:
  """This process's part of iteration `step`'s batch: the numbers of the events that the step
  simulates, row indices into the `resident` examples (on the devices), or when there are
  neither the examples themselves."""
  parts = (len(run.devices), jax.process_index(), jax.process_count())
  if run.config.data.online_simulation:
    return {'events': pipeline.simulated_events(run.config.data.num_examples,
                                                run.config.train.batch_size, step, *parts)}
  order = (run.config.train.batch_size, run.config.data.seed, step)
  keep_partial = run.config.train.keep_partial_batch
  if resident is None:
    return pipeline.training_batch(run.data.train, *order, run.data.normalisation, *parts,
                                   keep_partial)
  return {'indices': pipeline.local_batch_indices(len(run.data.train), *order, *parts,
                                                  keep_partial),
          'examples': resident}


def device_memory(devices: list[jax.Device]) -> int:
  """Bytes of memory of this process's `devices` together: their allocators' limits, or for CPU
  devices (no limit reported), the host's memory, which they share."""
  limits = [(device.memory_stats() or {}).get('bytes_limit')
            for device in distributed.local_devices(devices)]
  if all(limits):
    return sum(limits)
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def _stop_signal(received: list[int], step: int) -> int | None:
  """The signal that asks the run to save and stop after `step`, or None.

  One process: the first that `stop_requests` received. Several: SIGTERM once JAX's preemption
  service (started by `jax.distributed`, which catches SIGTERM on every process) has made all
  processes agree on this step, so that they save the same step together.
  """
  if jax.process_count() == 1:
    return received[0] if received else None
  return signal.SIGTERM if multihost_utils.reached_preemption_sync_point(step) else None


@contextlib.contextmanager
def stop_requests():
  """While the block runs, SIGTERM and SIGINT append their number to the yielded list instead of
  stopping the process (the loop then saves and stops); a second SIGINT interrupts at once.
  Outside the main thread, where Python cannot set handlers, and in multi-process runs, where
  JAX's preemption service handles SIGTERM (`_stop_signal`), signals keep their handlers."""
  received = []
  if (threading.current_thread() is not threading.main_thread()
      or jax.process_count() > 1):
    yield received
    return

  def request_stop(signum, frame):
    del frame
    received.append(signum)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.warning('%s: saving a checkpoint after this step, then stopping (Ctrl-C again stops '
                    'without saving)', signal.Signals(signum).name)

  previous = {signum: signal.signal(signum, request_stop) for signum in STOP_SIGNALS}
  try:
    yield received
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)


class NonFiniteGuard:
  """Checks iterations' metrics for non-finite values and non-finite updates
  (`nonfinite_updates`, `steps.guard_update`): mode 'stop' raises FloatingPointError naming the
  step and the quantities; mode 'skip' (the step dropped those updates) logs a warning."""

  def __init__(self, mode: str, nonfinite_updates: int):
    self.mode, self.nonfinite_updates = mode, nonfinite_updates

  def check(self, step: int, metrics: dict[str, jax.Array]) -> dict[str, float]:
    """Host scalars of one iteration's (replicated) metrics, after checking them."""
    scalars = {name: float(value[0]) for name, value in jax.device_get(metrics).items()}
    count = int(scalars['nonfinite_updates'])
    new, self.nonfinite_updates = count - self.nonfinite_updates, count
    bad = sorted(name for name, value in scalars.items() if not np.isfinite(value))
    if self.mode == 'skip':
      if new:
        logging.warning('Step %d: skipped %d update(s) with a non-finite loss or gradient (%d in '
                        'the run); non-finite: %s', step, new, count, ', '.join(bad))
    elif bad or new:
      raise FloatingPointError(
          f'non-finite {", ".join(bad) or "gradients"} at step {step}; nothing of this step was '
          'saved, the last checkpoint is intact (train.nonfinite=\'skip\' skips such updates)')
    return scalars


def _due(count: int, every: int, step: int, last: int) -> bool:
  """Whether periodic work falls on `step`: where its `count` (`_period_counts`) is a multiple
  of `every`, and always at the last step."""
  return count % every == 0 or step == last


def _period_counts(train_cfg: ml_collections.ConfigDict, step: int,
                   steps_per_epoch: int) -> tuple[int, int]:
  """What the periods count after `step` iterations: (for logs, checkpoints and evaluations,
  for samples).

  Both are `step` (due after k, 2k, ... iterations); with `train.count_from_zero`, the 0-based
  index of the iteration just run, step - 1 (due after 1, k + 1, 2k + 1, ...: the DCGAN
  notebook's `iters % k == 0`). With `train.sample_by_epoch`, the samples' count is that of the
  iteration within its epoch (the notebook's `batch_no % k == 0`).
  """
  count = step - 1 if train_cfg.count_from_zero else step
  if not train_cfg.sample_by_epoch:
    return count, count
  return count, count - (step - 1) // steps_per_epoch * steps_per_epoch


def _check_partial_batch(config: ml_collections.ConfigDict, num_train: int,
                         num_devices: int) -> None:
  """Fails unless an epoch's incomplete last batch, kept (`train.keep_partial_batch`), splits
  evenly over the devices."""
  partial = num_train % config.train.batch_size
  if config.train.keep_partial_batch and partial % num_devices:
    raise ValueError(f'train.keep_partial_batch: the last batch of an epoch holds {partial} of '
                     f'the {num_train} training examples, which does not split evenly over '
                     f'{num_devices} devices')


def _host_state(replicated: state_lib.GANState) -> state_lib.GANState:
  """One host copy of a replicated state, safe to keep after the buffers are donated.

  `np.asarray` of a CPU array may be a view of its device buffer, and `x[0]` of a pmap output
  may be device 0's own buffer: without the explicit copy, the next (donating) step would free
  memory that the sampler or Orbax's asynchronous save still reads.
  """
  return jax.tree.map(lambda x: np.array(x[0], copy=True), replicated)

"""The one training loop: restore-or-initialise, iterate, log, sample, checkpoint.

Everything experiment-specific (model, loss, data, predictor) comes from the config and plugs in
through registries; this file knows none of them by name.

Workdir layout:
  config.json            the run's configuration
  dataset.json           dataset facts the run depends on (normalisation, shapes, split sizes)
  predictor/             the pretrained auxiliary predictor (unless `predictor.checkpoint` is set;
                         frozen, or the start of one trained alongside, in the checkpoints)
  checkpoints/<step>/    Orbax checkpoints of the GAN state
  metrics.jsonl, tensorboard/, samples/   see jaxgan/logs.py
"""

import dataclasses
import os
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from absl import logging

from jaxgan import assembly
from jaxgan import checkpoint
from jaxgan import evaluate
from jaxgan import image_samplers
from jaxgan import logs
from jaxgan import losses
from jaxgan import sampling
from jaxgan import state as state_lib
from jaxgan import steps
from jaxgan.data import dataset as data_lib
from jaxgan.data import pilots
from jaxgan.data import pipeline


def select_devices(num_devices: int) -> list[jax.Device]:
  """The first `num_devices` local devices (all of them for 0)."""
  available = jax.local_devices()
  if num_devices > len(available):
    raise ValueError(f'train.num_devices={num_devices} but only {len(available)} local devices '
                     f'exist: {available}')
  return available[:num_devices or len(available)]


def check_config(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Fails early, naming the field, on values that would only break later."""
  if config.train.batch_size % num_devices:
    raise ValueError(f'train.batch_size={config.train.batch_size} does not split evenly over '
                     f'{num_devices} devices')
  for field in ('num_steps', 'batch_size', 'n_critic', 'log_every', 'sample_every',
                'checkpoint_every', 'max_to_keep'):
    if config.train[field] < 1:
      raise ValueError(f'train.{field} must be >= 1, got {config.train[field]}')
  if config.train.num_epochs < 0:
    raise ValueError(f'train.num_epochs must be >= 0, got {config.train.num_epochs}')
  losses.get_adversarial_loss(config.loss.name, config.loss.label_smoothing)
  assembly.penalty_from_config(config.loss)
  assembly.conditioning_of(config).check(config.loss.label_weights)
  if config.model.spectral_norm not in assembly.SPECTRAL_NORM:
    raise ValueError(f'model.spectral_norm={config.model.spectral_norm!r}; choose one of '
                     f'{assembly.SPECTRAL_NORM}')
  if config.train.dtype not in assembly.DTYPES:
    raise ValueError(f'train.dtype={config.train.dtype!r}; choose one of {assembly.DTYPES}')
  if not 0 <= config.train.ema_decay < 1:
    raise ValueError(f'train.ema_decay must be in [0, 1), got {config.train.ema_decay}')
  _check_eval_config(config)


def _check_eval_config(config: ml_collections.ConfigDict) -> None:
  if config.eval.every < 0:
    raise ValueError(f'eval.every must be >= 0, got {config.eval.every}')
  if not config.eval.every:
    return
  if data_lib.get_dataset(config.data.name).kind != 'telescope':
    raise ValueError(f'eval.every={config.eval.every}: evaluation during training is for '
                     f'telescope data; data.name={config.data.name!r} is not (set eval.every=0)')
  if config.eval.num < evaluate.MIN_IMAGES:
    raise ValueError(f'eval.num must be >= {evaluate.MIN_IMAGES}, got {config.eval.num}')


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2))


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
  sampler: Any  # `sampling.GridSampler` or an `image_samplers` sampler: has `write(...)`
  evaluator: evaluate.PeriodicEvaluation | None  # None when `eval.every` is 0
  num_steps: int
  steps_per_epoch: int


def make_sampler(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                 generator: nn.Module, data: assembly.RunData) -> Any:
  """The fixed-noise sampler that suits the dataset's kind of examples."""
  conditions = assembly.conditioning_of(config)
  label_dim = conditions.generator_label_dim
  latent_dim, seed = config.model.latent_dim, config.seed
  if dataset.kind == 'telescope':
    camera = config.data.toy_iact
    return sampling.GridSampler(
        generator, latent_dim, label_dim, data.train, data.validation, seed=seed,
        camera={'pixel_size_deg': camera.pixel_size_deg, 'picture': camera.tailcut_picture_pe,
                'boundary': camera.tailcut_boundary_pe})
  # The first categorical label (or InfoGAN code) picks the rows; other inputs stay 0.
  shown = conditions.generator_spec
  num_classes = shown[0].num_classes if shown else 0
  if dataset.kind == 'points':
    return image_samplers.PointCloudSampler(generator, latent_dim, num_classes, label_dim,
                                            data.validation, seed,
                                            pilots.MIXTURES[config.data.name])
  # One row per class when conditional (row r shows class r mod num_classes).
  return image_samplers.ImageGridSampler(generator, latent_dim, num_classes, label_dim, seed,
                                         rows=num_classes if label_dim else 8)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> state_lib.GANState:
  """Trains a GAN as `config` says, in `workdir`, resuming from its latest checkpoint.

  Returns:
    The final state (host arrays, one copy).
  """
  os.makedirs(workdir, exist_ok=True)
  devices = select_devices(config.train.num_devices)
  check_config(config, len(devices))
  write_config(config, workdir)
  logging.info('Training on %d device(s): %s', len(devices), devices)

  dataset = data_lib.get_dataset(config.data.name)
  data = assembly.load_data(config.data, workdir)
  conditions = assembly.conditioning_of(config)
  predictor, predictor_variables = (assembly.prepare_predictor(config, data, workdir)
                                    if conditions.uses_predictor else (None, {}))
  step_config = assembly.build_step_config(config, predictor)
  # The same networks without the pmap axis, for initialisation and sampling.
  sample_generator, critic = assembly.build_networks(config)
  initial = state_lib.init_state(
      jax.random.key(config.seed), sample_generator, critic, step_config.generator_tx,
      step_config.critic_tx, config.model.latent_dim,
      conditions.generator_label_dim, data.train.image_shape,
      keep_ema=config.train.ema_decay > 0,
      predictor_variables=predictor_variables, predictor_tx=step_config.predictor_tx)
  checkpointer = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                         config.train.max_to_keep)
  steps_per_epoch = len(data.train) // config.train.batch_size
  num_steps = config.train.num_epochs * steps_per_epoch or config.train.num_steps
  evaluator = evaluate.PeriodicEvaluation(config, workdir, data) if config.eval.every else None
  # A predictor trained alongside lives in the state; the step's argument is for a frozen one.
  frozen_predictor = {} if step_config.predictor_tx else predictor_variables
  run = Run(config, workdir, devices, step_config, frozen_predictor, data, checkpointer,
            make_sampler(config, dataset, sample_generator, data), evaluator, num_steps,
            steps_per_epoch)
  try:
    state = _loop(run, checkpointer.restore_or(initial))
  finally:
    checkpointer.close()
  logs.save_animation(os.path.join(workdir, 'samples'),
                      os.path.join(workdir, 'samples', 'progress.gif'))
  return state


def _loop(run: Run, state: state_lib.GANState) -> state_lib.GANState:
  """Runs iterations from the state's step to `train.num_steps`; returns the final host state."""
  train_cfg, num_steps = run.config.train, run.num_steps
  first_step = int(state.step)
  if first_step >= num_steps:
    logging.info('Nothing to do: the checkpoint is at step %d of %d', first_step, num_steps)
    return state
  iteration = steps.make_parallel_iteration(run.step_config, run.devices)
  replicated = steps.replicate(state, run.devices)
  replicated_predictor = steps.replicate(run.predictor_variables, run.devices)
  writer = logs.MetricWriter(run.workdir)
  progress = logs.Progress(first_step, num_steps)
  try:
    for step in range(first_step, num_steps):
      batch = pipeline.training_batch(run.data.train, train_cfg.batch_size, run.config.data.seed,
                                      step, run.data.normalisation, len(run.devices))
      replicated, metrics = iteration(replicated, batch, replicated_predictor)
      done = step + 1
      epoch_end = done % run.steps_per_epoch == 0
      if _due(done, train_cfg.log_every, num_steps) or done == first_step + 1:
        scalars = {k: float(v[0]) for k, v in jax.device_get(metrics).items()}
        _check_finite(done, scalars)
        writer.write_scalars(done, scalars)
        progress.report(done, scalars)
      sample = (_due(done, train_cfg.sample_every, num_steps)
                or epoch_end and train_cfg.sample_each_epoch)
      save = (_due(done, train_cfg.checkpoint_every, num_steps)
              or epoch_end and train_cfg.checkpoint_each_epoch)
      assess = run.evaluator is not None and _due(done, run.config.eval.every, num_steps)
      host_state = _host_state(replicated) if sample or save or assess else None  # one copy
      if sample:
        response = run.sampler.write(host_state, done, run.workdir, writer,
                                     run.data.normalisation)
        logging.info('Sample grid at step %d: %s', done, response)
      if save:
        run.checkpointer.save(done, host_state)
      if assess:
        scores = run.evaluator(host_state, done)
        writer.write_scalars(done, scores)
        logging.info('Evaluation at step %d: %s', done,
                     {name: scores.get(f'eval_{name}') for name in evaluate.HEADLINE})
  finally:
    writer.close()
  return _host_state(replicated)


def _due(step: int, every: int, last: int) -> bool:
  """Whether periodic work falls on `step`: every `every` steps, and always at the last one."""
  return step % every == 0 or step == last


def _host_state(replicated: state_lib.GANState) -> state_lib.GANState:
  """One host copy of a replicated state, safe to keep after the buffers are donated.

  `np.asarray` of a CPU array may be a view of its device buffer, and `x[0]` of a pmap output
  may be device 0's own buffer: without the explicit copy, the next (donating) step would free
  memory that the sampler or Orbax's asynchronous save still reads.
  """
  return jax.tree.map(lambda x: np.array(x[0], copy=True), replicated)


def _check_finite(step: int, scalars: dict[str, float]) -> None:
  bad = sorted(name for name, value in scalars.items() if not np.isfinite(value))
  if bad:
    raise FloatingPointError(f'non-finite {", ".join(bad)} at step {step}; '
                             'the last checkpoint is intact')

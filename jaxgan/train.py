"""The one training loop: restore-or-initialise, iterate, log, sample, checkpoint.

Everything experiment-specific (model, loss, data, predictor) comes from the config and plugs in
through registries; this file knows none of them by name.

Workdir layout:
  config.json            the run's configuration
  dataset.json           dataset facts the run depends on (normalisation, shapes, split sizes)
  predictor/             the frozen auxiliary predictor (unless `predictor.checkpoint` is set)
  checkpoints/<step>/    Orbax checkpoints of the GAN state
  metrics.jsonl, tensorboard/, samples/   see jaxgan/logs.py
"""

import dataclasses
import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
from absl import logging

from jaxgan import checkpoint
from jaxgan import conditioning
from jaxgan import logs
from jaxgan import losses
from jaxgan import models
from jaxgan import predictor_training
from jaxgan import sampling
from jaxgan import state as state_lib
from jaxgan import steps
from jaxgan.data import labels as labels_lib
from jaxgan.data import dataset as data_lib
from jaxgan.data import pipeline
from jaxgan.data.split import Split
from jaxgan.models import predictor as predictor_lib


@dataclasses.dataclass(frozen=True)
class RunData:
  """The data of a run: the splits (physical units) and their mapping to network units."""
  train: Split
  validation: Split
  normalisation: pipeline.Normalisation


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
  missing = set(labels_lib.LABEL_KEYS) - set(config.loss.label_weights.keys())
  if missing:
    raise ValueError(f'loss.label_weights lacks {sorted(missing)}')
  losses.get_adversarial_loss(config.loss.name, config.loss.label_smoothing)
  penalty_from_config(config.loss)
  conditioning.parse(config.model.conditioning)


def penalty_from_config(loss_config: ml_collections.ConfigDict) -> steps.Penalty:
  """The critic's regulariser as the `loss` config says, checked."""
  if loss_config.penalty not in steps.PENALTY_NAMES:
    raise ValueError(f'loss.penalty={loss_config.penalty!r} is unknown; choose one of '
                     f'{steps.PENALTY_NAMES}')
  if loss_config.gp_interpolation not in steps.INTERPOLATIONS:
    raise ValueError(f'loss.gp_interpolation={loss_config.gp_interpolation!r}; choose one of '
                     f'{steps.INTERPOLATIONS}')
  if loss_config.r1_every < 1 or loss_config.clip < 0:
    raise ValueError(f'loss.r1_every must be >= 1 and loss.clip >= 0, got '
                     f'{loss_config.r1_every} and {loss_config.clip}')
  if loss_config.penalty == 'r1':
    return steps.Penalty('r1', loss_config.r1_gamma, every=loss_config.r1_every)
  return steps.Penalty(loss_config.penalty, loss_config.gp_weight, loss_config.gp_interpolation)


def load_data(data_config: ml_collections.ConfigDict, workdir: str) -> RunData:
  """Loads the splits and records their facts in `<workdir>/dataset.json`."""
  train, validation = data_lib.load_splits(data_config)
  normalisation = pipeline.Normalisation(
      data_config.image_scale or pipeline.noise_scale(train), data_config.transform)
  facts = {'image_scale': normalisation.scale, 'transform': normalisation.transform,
           'image_shape': list(train.image_shape),
           'num_train': len(train), 'num_validation': len(validation)}
  with open(os.path.join(workdir, 'dataset.json'), 'w') as f:
    json.dump(facts, f, indent=2)
  logging.info('Data: %s', facts)
  return RunData(train, validation, normalisation)


def make_optimizers(config: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                                optax.GradientTransformation]:
  """Adam for the generator and the critic, as `config.optimizer` says."""
  opt = config.optimizer
  return (optax.adam(opt.generator_learning_rate, b1=opt.b1, b2=opt.b2),
          optax.adam(opt.critic_learning_rate, b1=opt.b1, b2=opt.b2))


def prepare_predictor(config: ml_collections.ConfigDict, data: RunData, workdir: str):
  """The frozen predictor module and its variables (trained now if none is saved)."""
  variables = predictor_training.train_or_load_predictor(
      config.predictor, data.train, data.validation, data.normalisation.forward, workdir)
  return predictor_lib.predictor_from_config(config.predictor), variables


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
  data: RunData
  checkpointer: checkpoint.Checkpointer
  sampler: sampling.GridSampler


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

  data = load_data(config.data, workdir)
  modes = conditioning.parse(config.model.conditioning)
  predictor, predictor_variables = (prepare_predictor(config, data, workdir)
                                    if 'predictor' in modes else (None, {}))
  generator_tx, critic_tx = make_optimizers(config)
  generator, critic = models.build_gan(config.model, axis_name=steps.AXIS_NAME)
  step_config = steps.StepConfig(
      generator=generator, critic=critic, predictor=predictor,
      generator_tx=generator_tx, critic_tx=critic_tx,
      adversarial=losses.get_adversarial_loss(config.loss.name, config.loss.label_smoothing),
      penalty=penalty_from_config(config.loss), weight_clip=config.loss.clip,
      n_critic=config.train.n_critic,
      latent_dim=config.model.latent_dim,
      conditions_generator=conditioning.generator_label_dim(modes) > 0,
      adversarial_weight=config.loss.adversarial_weight,
      label_weights=dict(config.loss.label_weights))

  sample_generator, _ = models.build_gan(config.model)  # no pmap axis: for init and sampling
  initial = state_lib.init_state(jax.random.key(config.seed), sample_generator, critic,
                                 generator_tx, critic_tx, config.model.latent_dim,
                                 conditioning.generator_label_dim(modes), data.train.image_shape)
  checkpointer = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                         config.train.max_to_keep)
  camera = config.data.toy_iact
  sampler = sampling.GridSampler(
      sample_generator, config.model.latent_dim, conditioning.generator_label_dim(modes),
      data.train, data.validation, seed=config.seed,
      camera={'pixel_size_deg': camera.pixel_size_deg, 'picture': camera.tailcut_picture_pe,
              'boundary': camera.tailcut_boundary_pe})
  run = Run(config, workdir, devices, step_config, predictor_variables, data, checkpointer,
            sampler)
  try:
    return _loop(run, checkpointer.restore_or(initial))
  finally:
    checkpointer.close()


def _loop(run: Run, state: state_lib.GANState) -> state_lib.GANState:
  """Runs iterations from the state's step to `train.num_steps`; returns the final host state."""
  train_cfg = run.config.train
  first_step = int(state.step)
  if first_step >= train_cfg.num_steps:
    logging.info('Nothing to do: the checkpoint is at step %d of %d', first_step,
                 train_cfg.num_steps)
    return state
  iteration = steps.make_parallel_iteration(run.step_config, run.devices)
  replicated = steps.replicate(state, run.devices)
  replicated_predictor = steps.replicate(run.predictor_variables, run.devices)
  writer = logs.MetricWriter(run.workdir)
  progress = logs.Progress(first_step, train_cfg.num_steps)
  try:
    for step in range(first_step, train_cfg.num_steps):
      batch = pipeline.training_batch(run.data.train, train_cfg.batch_size, run.config.data.seed,
                                      step, run.data.normalisation, len(run.devices))
      replicated, metrics = iteration(replicated, batch, replicated_predictor)
      done = step + 1
      if _due(done, train_cfg.log_every, train_cfg.num_steps) or done == first_step + 1:
        scalars = {k: float(v[0]) for k, v in jax.device_get(metrics).items()}
        _check_finite(done, scalars)
        writer.write_scalars(done, scalars)
        progress.report(done, scalars)
      sample = _due(done, train_cfg.sample_every, train_cfg.num_steps)
      save = _due(done, train_cfg.checkpoint_every, train_cfg.num_steps)
      host_state = _host_state(replicated) if sample or save else None  # one copy for both
      if sample:
        response = run.sampler.write(host_state, done, run.workdir, writer,
                                     run.data.normalisation)
        logging.info('Sample grid at step %d: %s', done, response)
      if save:
        run.checkpointer.save(done, host_state)
  finally:
    writer.close()
  return _host_state(replicated)


def _due(step: int, every: int, last: int) -> bool:
  """Whether periodic work falls on `step`: every `every` steps, and always at the last one."""
  return step % every == 0 or step == last


def _host_state(replicated: state_lib.GANState) -> state_lib.GANState:
  """One host copy of a replicated state (safe to keep after the buffers are donated)."""
  return jax.tree.map(lambda x: np.asarray(x[0]), replicated)


def _check_finite(step: int, scalars: dict[str, float]) -> None:
  bad = sorted(name for name, value in scalars.items() if not np.isfinite(value))
  if bad:
    raise FloatingPointError(f'non-finite {", ".join(bad)} at step {step}; '
                             'the last checkpoint is intact')

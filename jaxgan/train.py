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

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from jaxgan import checkpoint
from jaxgan import conditioning
from jaxgan import image_samplers
from jaxgan import logs
from jaxgan import losses
from jaxgan import models
from jaxgan import predictor_training
from jaxgan import sampling
from jaxgan import state as state_lib
from jaxgan import steps
from jaxgan.data import labels as labels_lib
from jaxgan.data import dataset as data_lib
from jaxgan.data import pilots
from jaxgan.data import pipeline
from jaxgan.data.split import Split
from jaxgan.models import predictor as predictor_lib


DTYPES = ('float32', 'bfloat16')
SPECTRAL_NORM = ('none', 'critic', 'both')


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
  if config.train.num_epochs < 0:
    raise ValueError(f'train.num_epochs must be >= 0, got {config.train.num_epochs}')
  losses.get_adversarial_loss(config.loss.name, config.loss.label_smoothing)
  penalty_from_config(config.loss)
  conditioning.check(conditioning.parse(config.model.conditioning),
                     data_lib.get_dataset(config.data.name).labels,
                     config.loss.label_weights, config.model.conditioning)
  if config.model.spectral_norm not in SPECTRAL_NORM:
    raise ValueError(f'model.spectral_norm={config.model.spectral_norm!r}; choose one of '
                     f'{SPECTRAL_NORM}')
  if config.train.dtype not in DTYPES:
    raise ValueError(f'train.dtype={config.train.dtype!r}; choose one of {DTYPES}')
  if not 0 <= config.train.ema_decay < 1:
    raise ValueError(f'train.ema_decay must be in [0, 1), got {config.train.ema_decay}')


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


def build_networks(config: ml_collections.ConfigDict, spec: labels_lib.LabelSpec,
                   axis_name: str | None = None) -> tuple[nn.Module, nn.Module]:
  """(generator, critic) as `config.model` and the conditioning say, in `train.dtype`."""
  modes = conditioning.parse(config.model.conditioning)
  codes = conditioning.code_spec(modes, config.model)
  return models.build_gan(config.model, axis_name=axis_name, dtype=jnp.dtype(config.train.dtype),
                          label_dim=conditioning.critic_label_dim(modes, spec),
                          aux_dim=conditioning.critic_aux_dim(modes, spec, codes))


def build_step_config(config: ml_collections.ConfigDict, spec: labels_lib.LabelSpec,
                      predictor: nn.Module | None) -> steps.StepConfig:
  """Networks, optimizers, losses and weights of the training step, as `config` says."""
  modes = conditioning.parse(config.model.conditioning)
  generator_tx, critic_tx = make_optimizers(config)
  generator, critic = build_networks(config, spec, axis_name=steps.AXIS_NAME)
  return steps.StepConfig(
      generator=generator, critic=critic, predictor=predictor,
      generator_tx=generator_tx, critic_tx=critic_tx,
      adversarial=losses.get_adversarial_loss(config.loss.name, config.loss.label_smoothing),
      penalty=penalty_from_config(config.loss), weight_clip=config.loss.clip,
      n_critic=config.train.n_critic, latent_dim=config.model.latent_dim, label_spec=spec,
      conditions_generator=conditioning.generator_label_dim(modes, spec) > 0,
      codes=conditioning.code_spec(modes, config.model), info_weight=config.loss.info_weight,
      ema_decay=config.train.ema_decay, adversarial_weight=config.loss.adversarial_weight,
      label_weights=dict(config.loss.label_weights))


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
  sampler: Any  # `sampling.GridSampler` or an `image_samplers` sampler: has `write(...)`
  num_steps: int
  steps_per_epoch: int


def make_sampler(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
                 generator: nn.Module, data: RunData) -> Any:
  """The fixed-noise sampler that suits the dataset's kind of examples."""
  modes = conditioning.parse(config.model.conditioning)
  codes = conditioning.code_spec(modes, config.model)
  label_dim = conditioning.generator_label_dim(modes, dataset.labels, codes)
  latent_dim, seed = config.model.latent_dim, config.seed
  if dataset.kind == 'telescope':
    camera = config.data.toy_iact
    return sampling.GridSampler(
        generator, latent_dim, label_dim, data.train, data.validation, seed=seed,
        camera={'pixel_size_deg': camera.pixel_size_deg, 'picture': camera.tailcut_picture_pe,
                'boundary': camera.tailcut_boundary_pe})
  # The first categorical label (or InfoGAN code) picks the rows; other inputs stay 0.
  shown = conditioning.generator_spec(modes, dataset.labels, codes)
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
  data = load_data(config.data, workdir)
  modes = conditioning.parse(config.model.conditioning)
  predictor, predictor_variables = (prepare_predictor(config, data, workdir)
                                    if 'predictor' in modes else (None, {}))
  step_config = build_step_config(config, dataset.labels, predictor)
  # The same networks without the pmap axis, for initialisation and sampling.
  sample_generator, critic = build_networks(config, dataset.labels)
  initial = state_lib.init_state(
      jax.random.key(config.seed), sample_generator, critic, step_config.generator_tx,
      step_config.critic_tx, config.model.latent_dim,
      conditioning.generator_label_dim(modes, dataset.labels,
                                       conditioning.code_spec(modes, config.model)),
      data.train.image_shape, keep_ema=config.train.ema_decay > 0)
  checkpointer = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                         config.train.max_to_keep)
  steps_per_epoch = len(data.train) // config.train.batch_size
  num_steps = config.train.num_epochs * steps_per_epoch or config.train.num_steps
  run = Run(config, workdir, devices, step_config, predictor_variables, data, checkpointer,
            make_sampler(config, dataset, sample_generator, data), num_steps, steps_per_epoch)
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

"""A run's parts, built from its config: data, conditioning, networks, optimizers, step.

`jaxgan.train` assembles a training run from these; `jaxgan.checkpoint` rebuilds the same
networks to restore a run's checkpoints (for generation and evaluation). Nothing here trains or
writes logs, except `load_data`'s `dataset.json` and `prepare_predictor`'s predictor (trained when
missing).
"""

import dataclasses
import functools
import json
import math
import os
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import logging

from jaxgan import conditioning
from jaxgan import distributed
from jaxgan import losses
from jaxgan import models
from jaxgan import optimizers
from jaxgan import predictor_training
from jaxgan import state as state_lib
from jaxgan import steps
from jaxgan.data import dataset as data_lib
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


def penalty_from_config(loss_config: ml_collections.ConfigDict) -> steps.Penalty:
  """The critic's regulariser as the `loss` config says, checked."""
  if loss_config.penalty not in steps.PENALTY_NAMES:
    raise ValueError(f'loss.penalty={loss_config.penalty!r} is unknown; choose one of '
                     f'{steps.PENALTY_NAMES}')
  if loss_config.gp_interpolation not in steps.INTERPOLATIONS:
    raise ValueError(f'loss.gp_interpolation={loss_config.gp_interpolation!r}; choose one of '
                     f'{steps.INTERPOLATIONS}')
  if loss_config.penalty == 'r1':
    return steps.Penalty('r1', loss_config.r1_gamma, every=loss_config.r1_every)
  return steps.Penalty(loss_config.penalty, loss_config.gp_weight, loss_config.gp_interpolation)


def check_step_modes(train_config: ml_collections.ConfigDict) -> None:
  """Fails, naming the field, on a `train.critic_fakes` or `train.generator_critic` that is
  not a mode of `steps.MODES`."""
  for field in ('critic_fakes', 'generator_critic'):
    if train_config[field] not in steps.MODES:
      raise ValueError(f'train.{field}={train_config[field]!r}; choose one of {steps.MODES}')


def normalisation_of(data_config: ml_collections.ConfigDict,
                     train: Split) -> pipeline.Normalisation:
  """The map to network units: `data.transform` at `data.image_scale`, or at the training
  split's noise level when that is 0."""
  return pipeline.Normalisation(data_config.image_scale or pipeline.noise_scale(train),
                                data_config.transform)


def load_data(data_config: ml_collections.ConfigDict, workdir: str) -> RunData:
  """Loads the splits and records their facts in `<workdir>/dataset.json` (process 0 writes it)."""
  train, validation = data_lib.load_splits(data_config)
  normalisation = normalisation_of(data_config, train)
  facts = {'image_scale': normalisation.scale, 'transform': normalisation.transform,
           'image_shape': list(train.image_shape),
           'num_train': len(train), 'num_validation': len(validation)}
  if distributed.is_writer():
    with open(os.path.join(workdir, 'dataset.json'), 'w') as f:
      json.dump(facts, f, indent=2)
  logging.info('Data: %s', facts)
  return RunData(train, validation, normalisation)


def generated_image_shape(config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """(H, W, C) of the images the config's generator draws (shapes only: nothing is computed)."""
  generator, _ = build_networks(config)
  z = jax.ShapeDtypeStruct((1, config.model.latent_dim), jnp.float32)
  labels = jax.ShapeDtypeStruct((1, conditioning_of(config).generator_label_dim), jnp.float32)
  images, _ = jax.eval_shape(functools.partial(generator.init_with_output, train=False),
                             jax.random.key(0), z, labels)
  return tuple(images.shape[1:])


def data_source(data_config: ml_collections.ConfigDict) -> str:
  """Where the data comes from, for messages: its file or folder, else its dataset's name."""
  if data_config.path:
    return f'data.path={data_config.path!r}'
  return f'data.name={data_config.name!r}'


def check_model_fits_data(config: ml_collections.ConfigDict, data: RunData) -> None:
  """Fails with one line, naming the data and the config fields, when the networks cannot train
  on the data: images of another shape than the generator draws (or than the training split's,
  for the validation split), a training split smaller than a batch, or a camera whose pixel size
  is not the model's `camera_pixel_size`."""
  shape, drawn = tuple(data.train.image_shape), generated_image_shape(config)
  if shape != drawn:
    raise ValueError(f'{data_source(config.data)} holds {_format_shape(shape)} images, but the '
                     f'generator (model.name={config.model.name!r}, model.image_size, '
                     f'model.generator_features) draws {_format_shape(drawn)}: make them agree')
  if tuple(data.validation.image_shape) != shape:
    raise ValueError(f'the validation split (data.validation_path={config.data.validation_path!r}) '
                     f'holds {_format_shape(data.validation.image_shape)} images, the training '
                     f'split {_format_shape(shape)}')
  _check_split_sizes(config, data)
  _check_pixel_size(config)


def _format_shape(shape: tuple[int, ...]) -> str:
  return 'x'.join(map(str, shape))


def _check_split_sizes(config: ml_collections.ConfigDict, data: RunData) -> None:
  needed = {'train.batch_size': config.train.batch_size}
  if conditioning_of(config).uses_predictor and not config.predictor.checkpoint:
    needed['predictor.batch_size'] = config.predictor.batch_size
  for field, batch in needed.items():
    if len(data.train) < batch:
      raise ValueError(f'the training split of {data_source(config.data)} holds {len(data.train)} '
                       f'examples, fewer than one batch ({field}={batch}): give more data '
                       '(data.num_examples) or a smaller batch')


def _check_pixel_size(config: ml_collections.ConfigDict) -> None:
  """The frame generator and the critic's polar and aligned views measure the camera in
  `model.camera_pixel_size` units; they must be the data camera's."""
  model = config.model
  if model.name != 'ctgan_frame' and model.critic_view == 'camera':
    return
  camera = data_lib.camera_of(config.data)
  if camera is not None and not math.isclose(camera.pixel_size_deg, model.camera_pixel_size,
                                             rel_tol=1e-6):
    raise ValueError(f'model.camera_pixel_size={model.camera_pixel_size} but the camera of '
                     f'{data_source(config.data)} has {camera.pixel_size_deg} deg pixels: set '
                     f'model.camera_pixel_size={camera.pixel_size_deg}')


def make_optimizers(config: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                                optax.GradientTransformation]:
  """Adam for the generator and the critic, as `config.optimizer` says."""
  opt = config.optimizer
  return tuple(optimizers.adam(rate, opt.b1, opt.b2, opt.eps, opt.eps_hat)
               for rate in (opt.generator_learning_rate, opt.critic_learning_rate))


def prepare_predictor(config: ml_collections.ConfigDict, data: RunData, workdir: str):
  """The predictor module of the training step and its starting variables (trained now if none
  is saved).

  In a multi-process run, process 0 alone trains or loads (and saves) the predictor, and every
  process gets its variables exactly (`distributed.from_process_zero`).
  """
  shapes = jax.eval_shape(lambda: untrained_predictor_variables(config, data.train.image_shape))
  variables = distributed.from_process_zero(
      lambda: predictor_training.train_or_load_predictor(
          config.predictor, data.train, data.validation, data.normalisation.forward, workdir),
      shapes)
  return step_predictor(config), variables


def untrained_predictor_variables(config: ml_collections.ConfigDict,
                                  image_shape: tuple[int, ...]) -> dict:
  """The variables of a freshly initialised predictor (seed 0) for `image_shape` images."""
  return predictor_training.init_variables(predictor_lib.predictor_from_config(config.predictor),
                                           tuple(image_shape), 0)


def step_predictor(config: ml_collections.ConfigDict) -> nn.Module:
  """The predictor module as the pmap-ed training step applies it (cross-device BatchNorm axis)."""
  return predictor_lib.predictor_from_config(config.predictor, axis_name=steps.AXIS_NAME)


def predictor_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation | None:
  """Adam at the constant `predictor.learning_rate` for a predictor trained alongside the
  critic; None when it is frozen or absent."""
  return optax.adam(config.predictor.learning_rate) if config.predictor.alongside else None


def predictor_shapes(config: ml_collections.ConfigDict,
                     image_shape: tuple[int, ...]) -> dict | None:
  """Shapes of the starting variables of a predictor trained alongside (None otherwise), for
  templates of the state."""
  if not config.predictor.alongside:
    return None
  return jax.eval_shape(lambda: untrained_predictor_variables(config, image_shape))


def conditioning_of(config: ml_collections.ConfigDict) -> conditioning.Conditioning:
  """The run's `model.conditioning`, resolved against its dataset's labels.

  Fails when `predictor.alongside` asks to train a predictor that the conditioning lacks.
  """
  conditions = conditioning.Conditioning.from_config(
      config.model, data_lib.get_dataset(config.data.name).labels)
  if config.predictor.alongside and not conditions.uses_predictor:
    raise ValueError(f'predictor.alongside=True trains the label predictor, but '
                     f'model.conditioning={config.model.conditioning!r} has no predictor; add '
                     "'predictor' to it, or set predictor.alongside=False")
  return conditions


def build_networks(config: ml_collections.ConfigDict,
                   axis_name: str | None = None) -> tuple[nn.Module, nn.Module]:
  """(generator, critic) as `config.model` and the conditioning say, in `train.dtype`; the
  networks are told where each of the dataset's labels lies in their label vector."""
  conditions = conditioning_of(config)
  return models.build_gan(config.model, axis_name=axis_name, dtype=jnp.dtype(config.train.dtype),
                          label_dim=conditions.critic_label_dim,
                          aux_dim=conditions.critic_aux_dim,
                          label_columns=conditions.label_columns)


def initial_state(config: ml_collections.ConfigDict, image_shape: tuple[int, ...],
                  predictor_variables=None) -> state_lib.GANState:
  """The run's state at step 0: fresh parameters drawn from `config.seed`.

  Args:
    config: the experiment's config.
    image_shape: (H, W, C) of one example.
    predictor_variables: the predictor's starting variables, kept in the state when it trains
      alongside the critic (`predictor.alongside`); ignored otherwise.
  """
  generator, critic = build_networks(config)
  generator_tx, critic_tx = make_optimizers(config)
  return state_lib.init_state(
      jax.random.key(config.seed), generator, critic, generator_tx, critic_tx,
      config.model.latent_dim, conditioning_of(config).generator_label_dim, tuple(image_shape),
      keep_ema=config.train.ema_decay > 0, predictor_variables=predictor_variables,
      predictor_tx=predictor_optimizer(config))


def online_simulator(config: ml_collections.ConfigDict,
                     normalisation: pipeline.Normalisation | None) -> Callable | None:
  """With `data.online_simulation`, the step's `simulate`: event numbers -> those events of the
  dataset's simulator (`data_lib.simulator_of`), images in network units; else None. The host
  numbers the events after the data set's (`pipeline.simulated_events`), so training never sees
  a validation event."""
  if not config.data.online_simulation:
    return None
  if normalisation is None:
    raise ValueError('data.online_simulation: the step needs the data\'s normalisation')
  simulator = data_lib.simulator_of(config.data)

  def simulate(events):
    images, labels = simulator(events)
    return {'images': normalisation.forward(images), 'labels': labels}

  return simulate


def build_step_config(config: ml_collections.ConfigDict, predictor: nn.Module | None,
                      normalisation: pipeline.Normalisation | None = None) -> steps.StepConfig:
  """Networks, optimizers, losses and weights of the training step, as `config` says;
  `normalisation` of the simulated batches (needed with `data.online_simulation` only)."""
  conditions = conditioning_of(config)
  generator_tx, critic_tx = make_optimizers(config)
  generator, critic = build_networks(config, axis_name=steps.AXIS_NAME)
  return steps.StepConfig(
      generator=generator, critic=critic, predictor=predictor,
      generator_tx=generator_tx, critic_tx=critic_tx,
      adversarial=losses.get_adversarial_loss(config.loss.name, config.loss.label_smoothing,
                                               config.loss.smooth_generator_target),
      penalty=penalty_from_config(config.loss), weight_clip=config.loss.clip,
      n_critic=config.train.n_critic, latent_dim=config.model.latent_dim,
      label_spec=conditions.labels, conditions_generator=conditions.generator_label_dim > 0,
      codes=conditions.codes, info_weight=config.loss.info_weight,
      ema_decay=config.train.ema_decay, adversarial_weight=config.loss.adversarial_weight,
      label_weights=dict(config.loss.label_weights), predictor_tx=predictor_optimizer(config),
      skip_nonfinite=config.train.nonfinite == 'skip',
      simulate=online_simulator(config, normalisation), reuse_fakes=config.train.reuse_fakes,
      critic_fakes=config.train.critic_fakes, generator_critic=config.train.generator_critic)

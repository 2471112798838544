"""Pure update functions of a conditional GAN and their pmap-ed composition.

One training iteration = `n_critic` critic updates on the same real batch, each with fresh noise
(and fresh gradient-penalty interpolation), then one generator update; it is one compiled call:
`jax.pmap(iteration, axis_name='batch', donate_argnums=(0,))`, the critic updates folded into a
`lax.scan`. Gradients, BatchNorm statistics (via the modules' `axis_name`) and metrics are
averaged over devices. With `reuse_fakes` (the DCGAN notebook's loop) one generator pass serves
both updates: the critic update sees its images, and the generator update then differentiates
through the same pass, so the generator runs, and its BatchNorm statistics move, once per
iteration.

The label predictor (conditioning mode 'predictor') judges the generator's fakes. It is either
frozen (its variables are an argument of the iteration) or trained alongside the critic (they
are part of the state): then each critic update is followed by one update of the predictor on
the same real batch, the unweighted sum of its label losses, as in its pretraining.

Randomness is defined per global example: example i of iteration s draws from
`fold_in(fold_in(fold_in(run_key, s), purpose), i)`, where i counts over all devices and
processes. Moving a run from 1 device to 8 therefore changes no random number, and results agree
within float tolerance (only the order of floating-point reductions differs).

This module does no I/O.
"""

import dataclasses
import functools
from typing import Any, Callable, Mapping, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxgan import distributed
from jaxgan import labels as labels_lib
from jaxgan import losses
from jaxgan.models.heads import CriticOutput
from jaxgan.state import GANState

Array = jax.Array
# Per device: the examples {'images': (b, H, W, C), 'labels': {name: (b, ...)}}, rows of
# examples resident on the device: {'indices': (b,), 'examples': {'images': (N, H, W, C), ...}},
# or the numbers of events to simulate in the step: {'events': (b,)} (`StepConfig.simulate`).
Batch = Mapping[str, Any]
Metrics = dict[str, Array]
PyTree = Any

AXIS_NAME = 'batch'

# Purposes of the random draws of one iteration; each has its own stream.
_LATENT, _PENALTY, _DROPOUT, _CODES = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class Penalty:
  """The critic's regulariser (`loss.penalty`), added to its loss.

  Attributes:
    name: 'none'; 'gp' (WGAN-GP, `losses.gradient_penalty`); 'dragan' (`losses.dragan_penalty`);
      'r1' (`losses.r1_penalty`).
    weight: lambda of 'gp' and 'dragan'; gamma of 'r1', whose term is gamma / 2 * R1. 0 disables.
    interpolation: 'gp' only: eps ~ U(0, 1) ('uniform', the paper) or N(0, 1) ('normal', the
      original TensorFlow implementation's draw).
    every: 'r1' only: lazy regularisation, applied on every `every`-th critic update with its
      term multiplied by `every` (StyleGAN2).
  """
  name: str = 'gp'
  weight: float = 10.0
  interpolation: str = 'uniform'
  every: int = 1


PENALTY_NAMES = ('none', 'gp', 'dragan', 'r1')
MODES = ('train', 'eval')  # `StepConfig.critic_fakes` and `generator_critic`
INTERPOLATIONS = ('uniform', 'normal')
_PENALTY_METRICS = {'gp': 'gradient_penalty', 'dragan': 'dragan_penalty', 'r1': 'r1_penalty'}


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Everything static that an iteration needs: modules, optimizers, losses, hyper-parameters.

  Attributes:
    generator, critic: Flax modules (the generator built with `axis_name=AXIS_NAME`). The
      critic's `label_dim` and `aux_dim` say whether it projects labels (cGAN) and has an
      AC-GAN head.
    predictor: auxiliary label predictor (built with `axis_name=AXIS_NAME`), or None for no
      predictor loss.
    generator_tx, critic_tx: optax optimizers.
    adversarial: the adversarial loss pair (`losses.get_adversarial_loss`).
    penalty: the critic's regulariser.
    n_critic: critic updates per generator update.
    latent_dim: size of z.
    label_spec: the dataset's labels (`jaxgan.labels`).
    conditions_generator: whether the label vector is concatenated to the generator's input.
    codes: InfoGAN's latent codes (`conditioning.code_spec`; empty without InfoGAN): drawn from
      their prior for every update, concatenated to z, estimated by the critic's aux head.
    info_weight: weight of InfoGAN's code losses in both players' losses.
    weight_clip: > 0 clips every critic parameter to [-c, c] after each update (WGAN-clip).
    ema_decay: > 0 updates the state's generator EMA after each generator update:
      ema <- decay * ema + (1 - decay) * params.
    adversarial_weight: weight of the adversarial term in the generator loss.
    label_weights: weight of each label's loss (predictor and AC-GAN head).
    predictor_tx: the predictor's optimizer when it trains alongside the critic; None: frozen.
    skip_nonfinite: drop an update whose loss or gradients are not finite (`guard_update`).
    critic_unroll: critic updates per step of the scan over them (`lax.scan`'s `unroll`);
      `jaxgan.benchmark` unrolls all n_critic, because XLA's cost analysis counts a scan's body
      once whatever its trip count.
    simulate: (b,) event numbers -> the examples of those events, in network units, made in the
      step (`data.online_simulation`); None when batches carry their examples.
    critic_fakes: the generator's mode when it draws the critic's fakes: 'train' (batch
      statistics, whose running averages it updates) or 'eval' (the running averages, kept).
    generator_critic: the critic's mode when it scores the fakes of a generator update: 'train'
      (dropout on) or 'eval'.
    reuse_fakes: the generator update reuses the critic update's fakes and generator pass
      instead of drawing new ones (`train.reuse_fakes`); needs n_critic 1.
  """
  generator: nn.Module
  critic: nn.Module
  predictor: nn.Module | None
  generator_tx: optax.GradientTransformation
  critic_tx: optax.GradientTransformation
  adversarial: losses.AdversarialLoss
  penalty: Penalty
  n_critic: int
  latent_dim: int
  label_spec: labels_lib.LabelSpec = labels_lib.TELESCOPE
  conditions_generator: bool = True
  codes: labels_lib.LabelSpec = ()
  info_weight: float = 1.0
  weight_clip: float = 0.0
  ema_decay: float = 0.0
  adversarial_weight: float = 1.0
  label_weights: Mapping[str, float] = dataclasses.field(default_factory=dict)
  predictor_tx: optax.GradientTransformation | None = None
  skip_nonfinite: bool = False
  critic_unroll: int = 1
  simulate: Callable[[Array], Batch] | None = None
  critic_fakes: str = 'train'
  generator_critic: str = 'train'
  reuse_fakes: bool = False

  def __post_init__(self):
    if self.reuse_fakes and self.n_critic != 1:
      raise ValueError(f'train.reuse_fakes needs train.n_critic=1 (one critic update to share '
                       f'its fakes with), got {self.n_critic}')
    if self.reuse_fakes and self.critic_fakes != 'train':
      raise ValueError("train.reuse_fakes shares a training-mode generator pass: it needs "
                       f"train.critic_fakes='train', got {self.critic_fakes!r}")


class Fakes(NamedTuple):
  """One training-mode pass of the generator.

  Attributes:
    images: its images.
    batch_stats: the generator's BatchNorm statistics after the pass.
    codes: InfoGAN's codes it was given; None without InfoGAN.
    pullback: image cotangents -> (parameter gradients,), the pass's `jax.vjp`; None when the
      pass is not differentiated.
  """
  images: Array
  batch_stats: PyTree
  codes: dict[str, Array] | None
  pullback: Callable[[Array], tuple[PyTree]] | None = None


def global_example_keys(key: Array, per_device_batch: int) -> Array:
  """One key per example of this device's batch, folded with the example's global index.

  Must run inside `pmap(axis_name=AXIS_NAME)`: the global index of local example j on device d
  is d * per_device_batch + j (pmap's axis index counts devices over all processes).
  """
  offset = lax.axis_index(AXIS_NAME) * per_device_batch
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(offset + jnp.arange(per_device_batch))


def draw_per_example(key: Array, per_device_batch: int,
                     sample: Callable[[Array], Array]) -> Array:
  """`sample(key_i)` for every example of this device's batch, stacked; key_i from the example's
  global index, so the draws do not depend on the device count."""
  return jax.vmap(sample)(global_example_keys(key, per_device_batch))


def draw_latents(key: Array, per_device_batch: int, latent_dim: int) -> Array:
  """z ~ N(0, I), shape (per_device_batch, latent_dim), one draw per global example."""
  return draw_per_example(key, per_device_batch, lambda k: jax.random.normal(k, (latent_dim,)))


def penalty_term(penalty: Penalty, scores_fn: Callable[[Array], Array], real: Array, fake: Array,
                 key: Array, update: Array) -> tuple[Array, Array] | None:
  """(weighted term for the critic loss, unweighted penalty) of `penalty`, or None if disabled.

  Args:
    penalty: which regulariser, and its settings.
    scores_fn: images -> (B,) critic scores, differentiable in the critic's parameters.
    real, fake: this device's (B, H, W, C) real and generated images.
    key: the random stream of this critic update's penalty draws.
    update: index of the critic update over the whole run (for lazy R1).
  """
  if penalty.name == 'none' or not penalty.weight:
    return None
  batch_size = real.shape[0]
  if penalty.name == 'gp':
    draw = jax.random.uniform if penalty.interpolation == 'uniform' else jax.random.normal
    eps = draw_per_example(key, batch_size, lambda k: draw(k, ()))
    value = losses.gradient_penalty(scores_fn, real, fake, eps)
    return penalty.weight * value, value
  if penalty.name == 'dragan':
    noise = draw_per_example(key, batch_size, lambda k: jax.random.uniform(k, real.shape[1:]))
    perturbation = losses.dragan_perturbation(real, noise, axis_name=AXIS_NAME)
    value = losses.dragan_penalty(scores_fn, real, perturbation)
    return penalty.weight * value, value
  value = lax.cond(update % penalty.every == 0, lambda: losses.r1_penalty(scores_fn, real),
                   lambda: jnp.zeros((), jnp.float32))
  return penalty.weight / 2 * penalty.every * value, value


def draw_codes(spec: labels_lib.LabelSpec, key: Array, per_device_batch: int) -> dict[str, Array]:
  """InfoGAN codes from their prior, one draw per global example: categorical codes uniform over
  their classes, continuous codes ~ U(-1, 1)."""

  def sample(example_key):
    keys = jax.random.split(example_key, len(spec))
    return {label.name: (jax.random.randint(k, (), 0, label.num_classes) if label.num_classes
                         else jax.random.uniform(k, (label.size,) if label.size > 1 else (),
                                                 minval=-1.0, maxval=1.0))
            for label, k in zip(spec, keys)}

  return draw_per_example(key, per_device_batch, sample)


def generator_input(cfg: StepConfig, label_vector: Array,
                    key: Array) -> tuple[Array, dict[str, Array] | None]:
  """The generator's label input, and InfoGAN's codes drawn with `key` (None without InfoGAN)."""
  if cfg.codes:
    codes = draw_codes(cfg.codes, key, label_vector.shape[0])
    return labels_lib.label_vector(codes, cfg.codes), codes
  return (label_vector if cfg.conditions_generator else label_vector[:, :0]), None


def generate(cfg: StepConfig, state: GANState, z: Array, generator_labels: Array,
             train: bool = True) -> tuple[Array, PyTree]:
  """Generator forward in training mode (or evaluation mode: BatchNorm running averages);
  returns (images, batch statistics, updated in training mode)."""
  images, updates = cfg.generator.apply(state.generator_variables, z, generator_labels,
                                        train=train, mutable=['batch_stats'])
  return images, updates.get('batch_stats', {})


def make_fakes(cfg: StepConfig, state: GANState, label_vector: Array, key: Array,
               differentiable: bool = False, train: bool = True) -> Fakes:
  """The generator's images for a fresh z (and InfoGAN codes) drawn with `key`, in training mode
  (or with `train` False in evaluation mode); with `differentiable`, also the pullback to its
  parameters."""
  z = draw_latents(jax.random.fold_in(key, _LATENT), label_vector.shape[0], cfg.latent_dim)
  generator_labels, codes = generator_input(cfg, label_vector, jax.random.fold_in(key, _CODES))
  forward = lambda params: generate(cfg, state.replace(generator_params=params), z,
                                    generator_labels, train=train)
  if not differentiable:
    return Fakes(*forward(state.generator_params), codes)
  images, pullback, batch_stats = jax.vjp(forward, state.generator_params, has_aux=True)
  return Fakes(images, batch_stats, codes, pullback)


def criticise(cfg: StepConfig, params: PyTree, batch_stats: PyTree, images: Array,
              label_vector: Array, key: Array, train: bool = True) -> tuple[CriticOutput, PyTree]:
  """The critic in training mode (or evaluation mode): its scores (and AC-GAN head outputs), and
  its BatchNorm statistics, updated in training mode (unchanged if it has none).

  Labels reach it only if it projects them. Dropout masks (if any) come from `key` folded with
  the device index.
  """
  labels = label_vector if cfg.critic.label_dim else None
  variables = {'params': params, 'batch_stats': batch_stats}
  rngs = {'dropout': jax.random.fold_in(key, lax.axis_index(AXIS_NAME))}
  output, updates = cfg.critic.apply(variables, images, labels, train=train, rngs=rngs,
                                     mutable=['batch_stats'])
  return output, updates.get('batch_stats', batch_stats)


def weighted_label_losses(cfg: StepConfig, predictions: Mapping[str, Array],
                          labels: Mapping[str, Array], prefix: str) -> tuple[Array, Metrics]:
  """sum_label weight * loss of `predictions` against `labels`, and each loss as a metric."""
  per_label = losses.label_losses(predictions, labels, cfg.label_spec)
  total = sum(cfg.label_weights[name] * value for name, value in per_label.items())
  return total, {f'{prefix}_{name}': value for name, value in per_label.items()}


def weighted_code_losses(cfg: StepConfig, aux: Array, codes: Mapping[str, Array],
                         prefix: str) -> tuple[Array, Metrics]:
  """InfoGAN: info_weight * the code losses of the aux head's estimates, and each as a metric."""
  predictions = labels_lib.predictions_from_vector(aux, cfg.codes)
  per_code = losses.label_losses(predictions, codes, cfg.codes)
  total = cfg.info_weight * sum(per_code.values())
  return total, {f'{prefix}_{name}': value for name, value in per_code.items()}


def critic_update(cfg: StepConfig, state: GANState, real: Array, labels: Mapping[str, Array],
                  label_vector: Array, key: Array, update: Array,
                  fakes: Fakes | None = None) -> tuple[GANState, Metrics]:
  """One critic update on `real` against `fakes`, by default fresh ones drawn with `key`;
  `update` counts the critic updates of the run."""
  if fakes is None:
    fakes = make_fakes(cfg, state, label_vector, key,
                       train=cfg.critic_fakes == 'train')
  fake, batch_stats, codes = lax.stop_gradient(fakes.images), fakes.batch_stats, fakes.codes

  dropout_key = jax.random.fold_in(key, _DROPOUT)

  def loss_fn(params):
    # Real and fake go through separately (BatchNorm statistics per pass, as in the DCGAN).
    real_out, critic_stats = criticise(cfg, params, state.critic_batch_stats, real, label_vector,
                                       jax.random.fold_in(dropout_key, 0))
    fake_out, critic_stats = criticise(cfg, params, critic_stats, fake, label_vector,
                                       jax.random.fold_in(dropout_key, 1))
    adversarial = cfg.adversarial.critic(real_out.scores, fake_out.scores)
    metrics = {'critic_adversarial': adversarial,
               'wasserstein_estimate': jnp.mean(real_out.scores) - jnp.mean(fake_out.scores)}
    total = adversarial
    scores_fn = lambda x: criticise(cfg, params, critic_stats, x, label_vector,
                                    jax.random.fold_in(dropout_key, 2))[0].scores
    penalty = penalty_term(cfg.penalty, scores_fn, real, fake,
                           jax.random.fold_in(key, _PENALTY), update)
    if penalty is not None:
      total = total + penalty[0]
      metrics[_PENALTY_METRICS[cfg.penalty.name]] = penalty[1]
    if codes is not None:  # InfoGAN: the head learns to recover the codes of the fakes
      info_loss, info_metrics = weighted_code_losses(cfg, fake_out.aux, codes, 'critic_info')
      total, metrics = total + info_loss, {**metrics, **info_metrics}
    elif real_out.aux is not None:  # AC-GAN: the head learns the labels of real and fake images
      for name, out in (('real', real_out), ('fake', fake_out)):
        predictions = labels_lib.predictions_from_vector(out.aux, cfg.label_spec)
        aux_loss, aux_metrics = weighted_label_losses(cfg, predictions, labels, f'critic_{name}')
        total, metrics = total + aux_loss, {**metrics, **aux_metrics}
    return total, (metrics, critic_stats)

  (loss, (metrics, critic_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.critic_params)
  grads = lax.pmean(grads, AXIS_NAME)
  grad_norm = optax.tree.norm(grads)
  updates, opt_state = cfg.critic_tx.update(grads, state.critic_opt_state, state.critic_params)
  params = optax.apply_updates(state.critic_params, updates)
  if cfg.weight_clip:
    params = losses.clip_weights(params, cfg.weight_clip)
  updated = state.replace(critic_params=params, critic_opt_state=opt_state,
                          critic_batch_stats=critic_stats, generator_batch_stats=batch_stats)
  return (guard_update(cfg, state, updated, loss, grad_norm),
          {'critic_loss': loss, 'critic_grad_norm': grad_norm, **metrics})


def predictor_step(model: nn.Module, optimizer: optax.GradientTransformation, params: PyTree,
                   batch_stats: PyTree, opt_state: optax.OptState, batch: Batch,
                   axis_name: str | None = None, regression: str = 'mse'
                   ) -> tuple[PyTree, PyTree, optax.OptState, dict[str, Array]]:
  """One optimiser step of the label predictor on the sum of its label losses (its pretraining,
  `predictor_training`, and its training alongside the critic, `predictor_update`).

  Inside `pmap`, `axis_name` names the axis over which the gradients are averaged (`model`'s
  BatchNorm should average its statistics over the same axis); None outside. `regression` is the
  loss of the continuous labels (`losses.REGRESSION_LOSSES`).
  """

  def loss_fn(params):
    predictions, updates = model.apply({'params': params, 'batch_stats': batch_stats},
                                       batch['images'], train=True, mutable=['batch_stats'])
    per_label = losses.label_losses(predictions, batch['labels'], model.label_spec, regression)
    return sum(per_label.values()), (per_label, updates['batch_stats'])

  (loss, (per_label, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  if axis_name is not None:
    grads = lax.pmean(grads, axis_name)
  updates, opt_state = optimizer.update(grads, opt_state, params)
  metrics = {'loss': loss, **{f'loss_{name}': value for name, value in per_label.items()}}
  return optax.apply_updates(params, updates), batch_stats, opt_state, metrics


def predictor_update(cfg: StepConfig, state: GANState, real: Array,
                     labels: Mapping[str, Array]) -> tuple[GANState, Metrics]:
  """One update of the predictor trained alongside the critic, on the real batch and its labels
  (gradients and BatchNorm statistics averaged over devices)."""
  params, batch_stats, opt_state, metrics = predictor_step(
      cfg.predictor, cfg.predictor_tx, state.predictor_params, state.predictor_batch_stats,
      state.predictor_opt_state, {'images': real, 'labels': labels}, axis_name=AXIS_NAME)
  updated = state.replace(predictor_params=params, predictor_batch_stats=batch_stats,
                          predictor_opt_state=opt_state)
  # Non-finite gradients make the new parameters non-finite: they stand in for the gradients.
  state = guard_update(cfg, state, updated, metrics['loss'], optax.tree.norm(params))
  return state, {f'predictor_{name.removeprefix("loss_")}': value
                 for name, value in metrics.items()}


def generator_loss(cfg: StepConfig, state: GANState, fake: Array, codes: dict[str, Array] | None,
                   labels: Mapping[str, Array], label_vector: Array, predictor_variables: PyTree,
                   key: Array) -> tuple[Array, Metrics]:
  """The generator's loss on its images `fake`: adversarial loss plus the weighted label losses
  of the fakes, as judged by the predictor (in evaluation mode, with `predictor_variables`)
  and/or the critic's AC-GAN head, or InfoGAN's code losses for `codes`."""
  fake_out, _ = criticise(cfg, state.critic_params, state.critic_batch_stats, fake, label_vector,
                          jax.random.fold_in(key, _DROPOUT), train=cfg.generator_critic == 'train')
  adversarial = cfg.adversarial.generator(fake_out.scores)
  metrics = {'generator_adversarial': adversarial}
  total = cfg.adversarial_weight * adversarial
  judges = []
  if cfg.predictor is not None:
    judges.append(('generator', cfg.predictor.apply(predictor_variables, fake, train=False)))
  if codes is not None:
    info_loss, info_metrics = weighted_code_losses(cfg, fake_out.aux, codes, 'generator_info')
    total, metrics = total + info_loss, {**metrics, **info_metrics}
  elif fake_out.aux is not None:
    judges.append(('generator_acgan',
                   labels_lib.predictions_from_vector(fake_out.aux, cfg.label_spec)))
  for prefix, predictions in judges:
    label_loss, label_metrics = weighted_label_losses(cfg, predictions, labels, prefix)
    total, metrics = total + label_loss, {**metrics, **label_metrics}
  return total, metrics


def generator_update(cfg: StepConfig, state: GANState, labels: Mapping[str, Array],
                     label_vector: Array, predictor_variables: PyTree, key: Array,
                     fakes: Fakes | None = None) -> tuple[GANState, Metrics]:
  """One generator update on `generator_loss`: of a new generator pass on fresh z drawn with
  `key`, or of the differentiable pass `fakes` (`make_fakes`) through its pullback."""
  loss_of = functools.partial(generator_loss, cfg, state, labels=labels,
                              label_vector=label_vector, predictor_variables=predictor_variables,
                              key=key)
  if fakes is not None:
    (loss, metrics), image_grads = jax.value_and_grad(
        lambda images: loss_of(images, fakes.codes), has_aux=True)(fakes.images)
    return apply_generator_gradients(cfg, state, fakes.pullback(image_grads)[0],
                                     fakes.batch_stats, loss, metrics)

  def loss_fn(params):
    new_fakes = make_fakes(cfg, state.replace(generator_params=params), label_vector, key)
    loss, metrics = loss_of(new_fakes.images, new_fakes.codes)
    return loss, (metrics, new_fakes.batch_stats)

  (loss, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.generator_params)
  return apply_generator_gradients(cfg, state, grads, batch_stats, loss, metrics)


def apply_generator_gradients(cfg: StepConfig, state: GANState, grads: PyTree,
                              batch_stats: PyTree, loss: Array,
                              metrics: Metrics) -> tuple[GANState, Metrics]:
  """The generator's optimiser step on this device's `grads` (averaged over devices here), its
  new BatchNorm statistics and EMA, guarded (`guard_update`); with the update's metrics."""
  grads = lax.pmean(grads, AXIS_NAME)
  grad_norm = optax.tree.norm(grads)
  updates, opt_state = cfg.generator_tx.update(grads, state.generator_opt_state,
                                               state.generator_params)
  params = optax.apply_updates(state.generator_params, updates)
  updated = state.replace(generator_params=params, generator_opt_state=opt_state,
                          generator_batch_stats=batch_stats)
  if cfg.ema_decay:
    updated = updated.replace(generator_ema_params=optax.incremental_update(
        params, state.generator_ema_params, step_size=1.0 - cfg.ema_decay))
  return (guard_update(cfg, state, updated, loss, grad_norm),
          {'generator_loss': loss, 'generator_grad_norm': grad_norm, **metrics})


def ema_statistics_update(cfg: StepConfig, state: GANState, label_vector: Array,
                          key: Array) -> GANState:
  """The EMA parameters' BatchNorm statistics after a training-mode pass of those parameters on
  a z drawn with `key` (BigGAN's standing statistics, kept as the live ones are, a running
  average): samples from the EMA parameters then normalise with their own statistics, not with
  the live parameters', which make them dimmer. Nothing else changes, so training is the same
  with or without it."""
  ema = state.replace(generator_params=state.generator_ema_params,
                      generator_batch_stats=state.generator_ema_batch_stats)
  fakes = make_fakes(cfg, ema, label_vector, key)
  return state.replace(generator_ema_batch_stats=fakes.batch_stats)


def guard_update(cfg: StepConfig, old: GANState, new: GANState, loss: Array,
                 grad_norm: Array) -> GANState:
  """`new`, the state after one update, with the update counted in `nonfinite_updates` when
  its loss (averaged over devices, so that every device decides alike) or its gradients' norm
  (the same on every device) is not finite; with `cfg.skip_nonfinite` such an update is
  dropped: `old` is kept, but for the count. (A norm that overflows float32 counts as
  non-finite.)"""
  finite = jnp.isfinite(lax.pmean(loss, AXIS_NAME)) & jnp.isfinite(grad_norm)
  if cfg.skip_nonfinite:
    new = jax.tree.map(lambda kept, dropped: jnp.where(finite, kept, dropped), new, old)
  return new.replace(nonfinite_updates=old.nonfinite_updates + (~finite).astype(jnp.int32))


def batch_examples(cfg: StepConfig, batch: Batch) -> Batch:
  """The examples of `batch`: itself, the rows `indices` of the resident `examples`, or the
  `events` simulated here (`cfg.simulate`)."""
  if 'events' in batch:
    return cfg.simulate(batch['events'])
  if 'indices' in batch:
    return jax.tree.map(lambda values: values[batch['indices']], batch['examples'])
  return batch


def critic_phase(cfg: StepConfig, state: GANState, batch: Batch, label_vector: Array,
                 step_key: Array, fakes: Fakes | None) -> tuple[GANState, Metrics]:
  """The iteration's n_critic critic updates (each followed by the predictor's when it trains
  alongside), folded into a `lax.scan`; or the one update against `fakes` (`reuse_fakes`).
  Returns the metrics of the last."""

  def critic_body(carry, index, fakes=None):
    carry, metrics = critic_update(cfg, carry, batch['images'], batch['labels'], label_vector,
                                   jax.random.fold_in(step_key, index),
                                   state.step * cfg.n_critic + index, fakes)
    if cfg.predictor_tx is None:
      return carry, metrics
    carry, predictor_metrics = predictor_update(cfg, carry, batch['images'], batch['labels'])
    return carry, {**metrics, **predictor_metrics}

  if fakes is not None:
    return critic_body(state, 0, fakes)
  state, metrics = lax.scan(critic_body, state, jnp.arange(cfg.n_critic),
                            unroll=cfg.critic_unroll)
  return state, jax.tree.map(lambda m: m[-1], metrics)


def train_iteration(state: GANState, batch: Batch, predictor_variables: PyTree, *,
                    cfg: StepConfig) -> tuple[GANState, Metrics]:
  """n_critic critic updates then one generator update, all on this device's share of `batch`.

  `predictor_variables` are those of the frozen predictor; a predictor trained alongside is
  updated after each critic update and judges the fakes with the state's variables instead.
  With `cfg.reuse_fakes` the critic update's generator pass, drawn as it would draw its own,
  serves the generator update too. With an EMA of the generator, its BatchNorm statistics follow
  (`ema_statistics_update`).

  Returns the new state and device-averaged metrics of the last critic (and predictor) update
  and of the generator update, with the run's count of non-finite updates (`guard_update`).
  """
  batch = batch_examples(cfg, batch)
  step_key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
  label_vector = (labels_lib.label_vector(batch['labels'], cfg.label_spec) if cfg.label_spec
                  else jnp.zeros((batch['images'].shape[0], 0), jnp.float32))
  fakes = (make_fakes(cfg, state, label_vector, jax.random.fold_in(step_key, 0),
                      differentiable=True) if cfg.reuse_fakes else None)
  state, critic_metrics = critic_phase(cfg, state, batch, label_vector, step_key, fakes)
  if cfg.predictor_tx is not None:
    predictor_variables = state.predictor_variables
  generator_key = jax.random.fold_in(step_key, cfg.n_critic)
  state, generator_metrics = generator_update(cfg, state, batch['labels'], label_vector,
                                              predictor_variables, generator_key, fakes)
  if cfg.ema_decay:
    state = ema_statistics_update(cfg, state, label_vector, generator_key)
  metrics = lax.pmean({**critic_metrics, **generator_metrics}, AXIS_NAME)
  return (state.replace(step=state.step + 1),
          {**metrics, 'nonfinite_updates': state.nonfinite_updates})


def make_parallel_iteration(cfg: StepConfig, devices: list[jax.Device]
                            ) -> Callable[[GANState, Batch, PyTree], tuple[GANState, Metrics]]:
  """`train_iteration` pmap-ed over `devices`; the state argument is donated.

  Inputs carry a leading device axis: the replicated state and predictor variables, and the
  batch split into (num_devices, per_device_batch, ...). With several processes, `devices` (the
  same list on every process) spans them all and each process passes and gets back only the
  entries of its own devices, in their order in `devices`.
  """
  return jax.pmap(functools.partial(train_iteration, cfg=cfg), axis_name=AXIS_NAME,
                  devices=devices, donate_argnums=(0,))


def replicate(tree: PyTree, devices: list[jax.Device]) -> PyTree:
  """Host pytree -> one copy per device, laid out exactly as the pmap-ed step returns its state.

  `flax.jax_utils.replicate` yields arrays whose sharding differs from pmap outputs, which makes
  the step compile a second time on its second call; the sharding of an identity pmap's output
  over the same devices does not. Each leaf is copied to each device from the host once (no
  stacked host copy, so a large leaf such as resident training data needs no extra host
  memory). With several processes, every process calls it with the same `devices` and gets
  copies on its own devices only.
  """
  return _place_per_device(tree, devices, lambda leaf, index: leaf)


def shard(tree: PyTree, devices: list[jax.Device]) -> PyTree:
  """Host pytree whose leaves have a leading axis of this process's devices (e.g. a batch split
  by `pipeline.shard`) -> slice i on device i, laid out as the pmap-ed step takes its inputs."""
  return _place_per_device(tree, devices, lambda leaf, index: leaf[index])


def _place_per_device(tree: PyTree, devices: list[jax.Device],
                      part: Callable[[np.ndarray, int], np.ndarray]) -> PyTree:
  """Each leaf's `part(leaf, i)` on this process's i-th device of `devices`, as one array with
  the sharding of an identity pmap's output over `devices`."""
  if not jax.tree.leaves(tree):
    return tree  # e.g. no predictor: nothing to place
  local = distributed.local_devices(devices)
  sharding = jax.pmap(lambda x: x, axis_name=AXIS_NAME, devices=devices)(
      np.zeros(len(local), np.float32)).sharding

  def place(leaf):  # pmap's arrays span this process's devices only
    parts = [np.asarray(part(np.asarray(leaf), index))[None] for index in range(len(local))]
    return jax.make_array_from_single_device_arrays(
        (len(local), *parts[0].shape[1:]), sharding,
        [jax.device_put(value, device) for value, device in zip(parts, local)])

  return jax.tree.map(place, tree)

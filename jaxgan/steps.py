"""Pure update functions of a conditional GAN and their pmap-ed composition.

One training iteration = `n_critic` critic updates on the same real batch, each with fresh noise
(and fresh gradient-penalty interpolation), then one generator update; it is one compiled call:
`jax.pmap(iteration, axis_name='batch', donate_argnums=(0,))`, the critic updates folded into a
`lax.scan`. Gradients, BatchNorm statistics (via the modules' `axis_name`) and metrics are
averaged over devices.

Randomness is defined per global example: example i of iteration s draws from
`fold_in(fold_in(fold_in(run_key, s), purpose), i)`, where i counts over all devices and
processes. Moving a run from 1 device to 8 therefore changes no random number, and results agree
within float tolerance (only the order of floating-point reductions differs).

This module does no I/O.
"""

import dataclasses
import functools
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxgan import losses
from jaxgan.data import labels as labels_lib
from jaxgan.state import GANState

Array = jax.Array
Batch = Mapping[str, Any]  # {'images': (b, H, W, C), 'labels': {name: (b, ...)}} per device
Metrics = dict[str, Array]
PyTree = Any

AXIS_NAME = 'batch'

# Purposes of the random draws of one iteration; each has its own stream.
_LATENT, _INTERPOLATION = 0, 1


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Everything static that an iteration needs: modules, optimizers, losses, hyper-parameters.

  Attributes:
    generator, critic: Flax modules (the generator built with `axis_name=AXIS_NAME`).
    predictor: frozen auxiliary label predictor, or None for no auxiliary loss.
    generator_tx, critic_tx: optax optimizers.
    adversarial: the adversarial loss pair (`losses.get_adversarial_loss`).
    gp_weight: weight of the WGAN-GP gradient penalty (0 disables it).
    n_critic: critic updates per generator update.
    latent_dim: size of z.
    adversarial_weight: weight of the adversarial term in the generator loss.
    label_weights: weight of each label's predictor loss in the generator loss.
  """
  generator: nn.Module
  critic: nn.Module
  predictor: nn.Module | None
  generator_tx: optax.GradientTransformation
  critic_tx: optax.GradientTransformation
  adversarial: losses.AdversarialLoss
  gp_weight: float
  n_critic: int
  latent_dim: int
  adversarial_weight: float = 1.0
  label_weights: Mapping[str, float] = dataclasses.field(default_factory=dict)


def global_example_keys(key: Array, per_device_batch: int) -> Array:
  """One key per example of this device's batch, folded with the example's global index.

  Must run inside `pmap(axis_name=AXIS_NAME)`: the global index of local example j on device d
  is d * per_device_batch + j (pmap's axis index counts devices over all processes).
  """
  offset = lax.axis_index(AXIS_NAME) * per_device_batch
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(offset + jnp.arange(per_device_batch))


def draw_latents(key: Array, per_device_batch: int, latent_dim: int) -> Array:
  """z ~ N(0, I), shape (per_device_batch, latent_dim), one draw per global example."""
  keys = global_example_keys(key, per_device_batch)
  return jax.vmap(lambda k: jax.random.normal(k, (latent_dim,)))(keys)


def draw_uniform(key: Array, per_device_batch: int) -> Array:
  """eps ~ U(0, 1), shape (per_device_batch,), one draw per global example."""
  keys = global_example_keys(key, per_device_batch)
  return jax.vmap(lambda k: jax.random.uniform(k, ()))(keys)


def generate(cfg: StepConfig, state: GANState, z: Array,
             label_vector: Array) -> tuple[Array, PyTree]:
  """Generator forward in training mode; returns (images, updated batch statistics)."""
  images, updates = cfg.generator.apply(state.generator_variables, z, label_vector, train=True,
                                        mutable=['batch_stats'])
  return images, updates.get('batch_stats', {})


def critic_update(cfg: StepConfig, state: GANState, real: Array, label_vector: Array,
                  key: Array) -> tuple[GANState, Metrics]:
  """One critic update on `real` against fresh fakes drawn with `key`."""
  batch_size = real.shape[0]
  z = draw_latents(jax.random.fold_in(key, _LATENT), batch_size, cfg.latent_dim)
  eps = draw_uniform(jax.random.fold_in(key, _INTERPOLATION), batch_size)
  fake, batch_stats = generate(cfg, state, z, label_vector)
  fake = lax.stop_gradient(fake)

  def loss_fn(params):
    critic_fn = lambda x: cfg.critic.apply({'params': params}, x)
    real_scores, fake_scores = critic_fn(real), critic_fn(fake)
    adversarial = cfg.adversarial.critic(real_scores, fake_scores)
    penalty = losses.gradient_penalty(critic_fn, real, fake, eps) if cfg.gp_weight else 0.0
    metrics = {'critic_adversarial': adversarial, 'gradient_penalty': penalty,
               'wasserstein_estimate': jnp.mean(real_scores) - jnp.mean(fake_scores)}
    return adversarial + cfg.gp_weight * penalty, metrics

  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic_params)
  grads = lax.pmean(grads, AXIS_NAME)
  updates, opt_state = cfg.critic_tx.update(grads, state.critic_opt_state, state.critic_params)
  state = state.replace(critic_params=optax.apply_updates(state.critic_params, updates),
                        critic_opt_state=opt_state, generator_batch_stats=batch_stats)
  return state, {'critic_loss': loss, **metrics}


def generator_update(cfg: StepConfig, state: GANState, labels: Mapping[str, Array],
                     label_vector: Array, predictor_variables: PyTree,
                     key: Array) -> tuple[GANState, Metrics]:
  """One generator update: adversarial loss plus the weighted predictor losses on the labels."""
  z = draw_latents(jax.random.fold_in(key, _LATENT), label_vector.shape[0], cfg.latent_dim)

  def loss_fn(params):
    fake, batch_stats = generate(cfg, state.replace(generator_params=params), z, label_vector)
    adversarial = cfg.adversarial.generator(cfg.critic.apply({'params': state.critic_params}, fake))
    metrics = {'generator_adversarial': adversarial}
    total = cfg.adversarial_weight * adversarial
    if cfg.predictor is not None:
      predictions = cfg.predictor.apply(predictor_variables, fake, train=False)
      for name, value in losses.label_losses(predictions, labels).items():
        metrics[f'generator_{name}'] = value
        total = total + cfg.label_weights[name] * value
    return total, (metrics, batch_stats)

  (loss, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.generator_params)
  grads = lax.pmean(grads, AXIS_NAME)
  updates, opt_state = cfg.generator_tx.update(grads, state.generator_opt_state,
                                               state.generator_params)
  state = state.replace(generator_params=optax.apply_updates(state.generator_params, updates),
                        generator_opt_state=opt_state, generator_batch_stats=batch_stats)
  return state, {'generator_loss': loss, **metrics}


def train_iteration(state: GANState, batch: Batch, predictor_variables: PyTree, *,
                    cfg: StepConfig) -> tuple[GANState, Metrics]:
  """n_critic critic updates then one generator update, all on this device's share of `batch`.

  Returns the new state and device-averaged metrics of the last critic and the generator update.
  """
  step_key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
  label_vector = labels_lib.label_vector(batch['labels'])

  def critic_body(carry, index):
    return critic_update(cfg, carry, batch['images'], label_vector,
                         jax.random.fold_in(step_key, index))

  state, critic_metrics = lax.scan(critic_body, state, jnp.arange(cfg.n_critic))
  state, generator_metrics = generator_update(cfg, state, batch['labels'], label_vector,
                                              predictor_variables,
                                              jax.random.fold_in(step_key, cfg.n_critic))
  metrics = {**jax.tree.map(lambda m: m[-1], critic_metrics), **generator_metrics}
  return state.replace(step=state.step + 1), lax.pmean(metrics, AXIS_NAME)


def make_parallel_iteration(cfg: StepConfig, devices: list[jax.Device]
                            ) -> Callable[[GANState, Batch, PyTree], tuple[GANState, Metrics]]:
  """`train_iteration` pmap-ed over `devices`; the state argument is donated.

  Inputs carry a leading device axis: the replicated state and predictor variables, and the
  batch split into (num_devices, per_device_batch, ...).
  """
  return jax.pmap(functools.partial(train_iteration, cfg=cfg), axis_name=AXIS_NAME,
                  devices=devices, donate_argnums=(0,))


def replicate(tree: PyTree, devices: list[jax.Device]) -> PyTree:
  """Host pytree -> one copy per device, laid out exactly as the pmap-ed step returns its state.

  `flax.jax_utils.replicate` yields arrays whose sharding differs from pmap outputs, which makes
  the step compile a second time on its second call; an identity pmap over the same devices
  gives the step's own output layout, so the step compiles once.
  """
  stacked = jax.tree.map(lambda x: np.stack([np.asarray(x)] * len(devices)), tree)
  return jax.pmap(lambda x: x, axis_name=AXIS_NAME, devices=devices)(stacked)

"""Adversarial losses, penalties and auxiliary (label-prediction) losses.

Every function here takes arrays (and, for penalties, a function `critic_fn: images -> scores`),
never models, so each is testable against a closed form. Scores are the critic's raw outputs
(logits for the cross-entropy losses, unbounded values for the Wasserstein loss), shape (B,).

A new adversarial loss is a pair of functions plus one entry in `ADVERSARIAL_LOSSES`.
"""

from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
CriticFn = Callable[[Array], Array]

# Added under the square root of the gradient norm so that its derivative stays finite where the
# critic's input gradient is exactly zero (sqrt'(0) is infinite).
_NORM_EPSILON = 1e-12


class AdversarialLoss(NamedTuple):
  """The two players' losses of one GAN objective: critic(real, fake) and generator(fake)."""
  critic: Callable[[Array, Array], Array]
  generator: Callable[[Array], Array]


def wasserstein_critic(real_scores: Array, fake_scores: Array) -> Array:
  """J_D = E[D(G(z))] - E[D(x)] (Arjovsky et al. 2017)."""
  return jnp.mean(fake_scores) - jnp.mean(real_scores)


def wasserstein_generator(fake_scores: Array) -> Array:
  """J_G = -E[D(G(z))]."""
  return -jnp.mean(fake_scores)


ADVERSARIAL_LOSSES: Mapping[str, AdversarialLoss] = {
    'wasserstein': AdversarialLoss(wasserstein_critic, wasserstein_generator),
}


def get_adversarial_loss(name: str) -> AdversarialLoss:
  """Looks up `loss.name`, failing with the list of known names."""
  if name not in ADVERSARIAL_LOSSES:
    raise ValueError(f'loss.name={name!r} is unknown; choose one of {sorted(ADVERSARIAL_LOSSES)}')
  return ADVERSARIAL_LOSSES[name]


def input_gradient_norms(critic_fn: CriticFn, images: Array) -> Array:
  """Per-example L2 norm of d critic_fn(x)_i / d x_i, shape (B,).

  The critic must treat examples independently (no BatchNorm), so the gradient of the summed
  scores with respect to the batch is the stack of the per-example input gradients.
  """
  images = images.astype(jnp.promote_types(images.dtype, jnp.float32))  # float32 at least
  grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(images)
  squared = jnp.sum(jnp.square(grads).reshape(grads.shape[0], -1), axis=-1)
  return jnp.sqrt(squared + _NORM_EPSILON)


def interpolate(real: Array, fake: Array, eps: Array) -> Array:
  """xhat = eps * fake + (1 - eps) * real, with one eps per example (shape (B,))."""
  eps = eps.reshape((-1,) + (1,) * (real.ndim - 1))
  return eps * fake + (1.0 - eps) * real


def gradient_penalty(critic_fn: CriticFn, real: Array, fake: Array, eps: Array) -> Array:
  """WGAN-GP (Gulrajani et al. 2017): E[(||grad_xhat D(xhat)||_2 - 1)^2].

  Args:
    critic_fn: images -> (B,) scores.
    real, fake: (B, H, W, C) images.
    eps: (B,) interpolation coefficients, U(0, 1) in the paper.
  """
  norms = input_gradient_norms(critic_fn, interpolate(real, fake, eps))
  return jnp.mean(jnp.square(norms - 1.0))


def particletype_cross_entropy(logits: Array, particletype: Array) -> Array:
  """Mean softmax cross-entropy of (B, K) logits against (B,) integer classes."""
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
  return -jnp.mean(jnp.take_along_axis(log_probs, particletype[:, None], axis=-1))


def mean_squared_error(predicted: Array, target: Array) -> Array:
  """Mean over examples and components of (predicted - target)^2."""
  return jnp.mean(jnp.square(predicted.astype(jnp.float32) - target))


def label_losses(predictions: Mapping[str, Array], labels: Mapping[str, Array]) -> dict[str, Array]:
  """The predictor's losses per label: cross-entropy on particle type, MSE on energy, direction.

  Args:
    predictions: `particletype` (B, 2) logits, `energy` (B,), `direction` (B, 2).
    labels: `particletype` (B,) int, `energy` (B,), `direction` (B, 2).
  """
  return {
      'particletype': particletype_cross_entropy(predictions['particletype'],
                                                 labels['particletype']),
      'energy': mean_squared_error(predictions['energy'], labels['energy']),
      'direction': mean_squared_error(predictions['direction'], labels['direction']),
  }

"""Adversarial losses, penalties and auxiliary (label-prediction) losses.

Every function here takes arrays (and, for penalties, a function `critic_fn: images -> scores`),
never models, so each is testable against a closed form. Scores are the critic's raw outputs,
shape (B,): logits for the cross-entropy losses (D(x) = sigmoid(score)), unbounded values for the
least-squares, Wasserstein and hinge losses. Every loss is a mean over the batch. Random draws
(interpolation coefficients, perturbations) are the caller's: the functions stay deterministic.

A new adversarial loss is a pair of functions plus one entry in `ADVERSARIAL_LOSSES`.
"""

import functools
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.labels import LabelSpec

Array = jax.Array
CriticFn = Callable[[Array], Array]
PyTree = Any

# Added under the square root of the gradient norm so that its derivative stays finite where the
# critic's input gradient is exactly zero (sqrt'(0) is infinite).
_NORM_EPSILON = 1e-12


class AdversarialLoss(NamedTuple):
  """The two players' losses of one GAN objective: critic(real, fake) and generator(fake)."""
  critic: Callable[[Array, Array], Array]
  generator: Callable[[Array], Array]


def _at_least_float32(x: Array) -> Array:
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def binary_cross_entropy(logits: Array, target: float) -> Array:
  """Mean of -t log D - (1 - t) log(1 - D), with D = sigmoid(logits) and target t in [0, 1].

  Written as -t log_sigmoid(s) - (1 - t) log_sigmoid(-s): finite with finite gradients for any
  logit s, where log(sigmoid(s)) would give log(0) = -inf once sigmoid(s) underflows.
  """
  logits = _at_least_float32(logits)
  return -jnp.mean(target * jax.nn.log_sigmoid(logits)
                   + (1.0 - target) * jax.nn.log_sigmoid(-logits))


def minimax_critic(real_scores: Array, fake_scores: Array, real_label: float = 1.0) -> Array:
  """J_D = -E[t log D(x) + (1 - t) log(1 - D(x))] - E[log(1 - D(G(z)))] (Goodfellow et al. 2014).

  The critic's loss for both cross-entropy games. t = real_label is the target of real images:
  1, or 1 - smoothing for one-sided label smoothing (Salimans et al. 2016; 0.9 in DCGAN recipes).
  Fakes always have target 0.
  """
  return binary_cross_entropy(real_scores, real_label) + binary_cross_entropy(fake_scores, 0.0)


def minimax_generator(fake_scores: Array) -> Array:
  """J_G = E[log(1 - D(G(z)))], the zero-sum generator (minus J_D's fake term).

  Saturates: dJ_G/ds = -D(G(z)) vanishes when the critic confidently rejects the fakes.
  """
  return -binary_cross_entropy(fake_scores, 0.0)


def non_saturating_generator(fake_scores: Array, target: float = 1.0) -> Array:
  """J_G = -E[log D(G(z))] (Goodfellow et al. 2014, section 3; DCGAN).

  Same fixed point as the minimax generator, but dJ_G/ds = D(G(z)) - 1 stays near -1 when the
  critic confidently rejects the fakes, so the generator still learns when it is losing.

  A `target` t < 1 makes it the cross-entropy against t, -E[t log D + (1 - t) log(1 - D)]: the
  DCGAN notebook's BCE(D(G(z)), 0.9). Its gradient dJ_G/ds = D(G(z)) - t vanishes at D = t and
  pushes the fakes back towards "fake" above it.
  """
  return binary_cross_entropy(fake_scores, target)


def least_squares_critic(real_scores: Array, fake_scores: Array) -> Array:
  """J_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2] (LSGAN, Mao et al. 2017, a = 0, b = 1).

  The source's eq. 7a sums over the batch without the 1/2: the same loss up to a constant factor.
  """
  return 0.5 * jnp.mean(jnp.square(real_scores - 1.0)) + 0.5 * jnp.mean(jnp.square(fake_scores))


def least_squares_generator(fake_scores: Array) -> Array:
  """J_G = 1/2 E[(D(G(z)) - 1)^2] (LSGAN, Mao et al. 2017, c = 1)."""
  return 0.5 * jnp.mean(jnp.square(fake_scores - 1.0))


def wasserstein_critic(real_scores: Array, fake_scores: Array) -> Array:
  """J_D = E[D(G(z))] - E[D(x)] (Arjovsky et al. 2017).

  The critic must be kept (near) 1-Lipschitz: `clip_weights` (WGAN), `gradient_penalty` (WGAN-GP).
  """
  return jnp.mean(fake_scores) - jnp.mean(real_scores)


def wasserstein_generator(fake_scores: Array) -> Array:
  """J_G = -E[D(G(z))] (also the hinge loss's generator)."""
  return -jnp.mean(fake_scores)


def hinge_critic(real_scores: Array, fake_scores: Array) -> Array:
  """J_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] (Lim & Ye 2017; Miyato et al. 2018).

  Zero once real scores are >= 1 and fake scores <= -1.
  """
  return jnp.mean(jax.nn.relu(1.0 - real_scores)) + jnp.mean(jax.nn.relu(1.0 + fake_scores))


ADVERSARIAL_LOSSES: Mapping[str, AdversarialLoss] = {
    'minimax': AdversarialLoss(minimax_critic, minimax_generator),
    'non_saturating': AdversarialLoss(minimax_critic, non_saturating_generator),
    'least_squares': AdversarialLoss(least_squares_critic, least_squares_generator),
    'wasserstein': AdversarialLoss(wasserstein_critic, wasserstein_generator),
    'hinge': AdversarialLoss(hinge_critic, wasserstein_generator),
}

# The losses whose critic takes `real_label`, i.e. accepts one-sided label smoothing.
CROSS_ENTROPY_LOSSES = ('minimax', 'non_saturating')


def get_adversarial_loss(name: str, label_smoothing: float = 0.0,
                         smooth_generator_target: bool = False) -> AdversarialLoss:
  """Looks up `loss.name`, failing with the list of known names.

  Args:
    name: a key of `ADVERSARIAL_LOSSES`.
    label_smoothing: one-sided label smoothing s in [0, 1): the critic's target for real images
      becomes 1 - s. Only for the cross-entropy losses (`CROSS_ENTROPY_LOSSES`).
    smooth_generator_target: the generator's target for its fakes becomes 1 - s too (the DCGAN
      notebook's); only for 'non_saturating', the one generator loss with a target.
  """
  if name not in ADVERSARIAL_LOSSES:
    raise ValueError(f'loss.name={name!r} is unknown; choose one of {sorted(ADVERSARIAL_LOSSES)}')
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f'loss.label_smoothing={label_smoothing} must be in [0, 1)')
  if smooth_generator_target and name != 'non_saturating':
    raise ValueError(f'loss.smooth_generator_target needs loss.name=\'non_saturating\', the one '
                     f'generator loss with a target, not {name!r}')
  loss = ADVERSARIAL_LOSSES[name]
  if not label_smoothing:
    return loss
  if name not in CROSS_ENTROPY_LOSSES:
    raise ValueError(f'loss.label_smoothing={label_smoothing} needs a cross-entropy loss '
                     f'{CROSS_ENTROPY_LOSSES}, not loss.name={name!r}')
  loss = loss._replace(critic=functools.partial(loss.critic, real_label=1.0 - label_smoothing))
  if smooth_generator_target:
    loss = loss._replace(generator=functools.partial(loss.generator,
                                                     target=1.0 - label_smoothing))
  return loss


def input_gradient_squared_norms(critic_fn: CriticFn, images: Array) -> Array:
  """Per-example squared L2 norm ||d critic_fn(x)_i / d x_i||^2, shape (B,).

  The critic must treat examples independently (no BatchNorm), so the gradient of the summed
  scores with respect to the batch is the stack of the per-example input gradients.
  """
  grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(_at_least_float32(images))
  return jnp.sum(jnp.square(grads).reshape(grads.shape[0], -1), axis=-1)


def input_gradient_norms(critic_fn: CriticFn, images: Array) -> Array:
  """Per-example L2 norm sqrt(||d critic_fn(x)_i / d x_i||^2 + 1e-12), shape (B,)."""
  return jnp.sqrt(input_gradient_squared_norms(critic_fn, images) + _NORM_EPSILON)


def interpolate(real: Array, fake: Array, eps: Array) -> Array:
  """xhat = eps * fake + (1 - eps) * real, with one eps per example (shape (B,))."""
  eps = eps.reshape((-1,) + (1,) * (real.ndim - 1))
  return eps * fake + (1.0 - eps) * real


def gradient_penalty(critic_fn: CriticFn, real: Array, fake: Array, eps: Array) -> Array:
  """WGAN-GP (Gulrajani et al. 2017): E[(||grad_xhat D(xhat)||_2 - 1)^2], xhat = `interpolate`.

  The caller multiplies by lambda (10 in the paper) and adds it to J_D.

  Args:
    critic_fn: images -> (B,) scores.
    real, fake: (B, H, W, C) images.
    eps: (B,) interpolation coefficients drawn by the caller: eps ~ U(0, 1) is the paper's;
      eps ~ N(0, 1) reproduces the draw of the original TensorFlow implementation, which then
      also extrapolates beyond the segment between real and fake.
  """
  norms = input_gradient_norms(critic_fn, interpolate(real, fake, eps))
  return jnp.mean(jnp.square(norms - 1.0))


def dragan_perturbation(real: Array, noise: Array, scale: float = 0.5,
                        axis_name: str | None = None) -> Array:
  """delta = scale * std(x) * u: the DRAGAN perturbation (Kodali et al. 2017), scale 0.5.

  Args:
    real: (B, H, W, C) real images; std(x) is their standard deviation over the whole batch.
    noise: u ~ U(0, 1), drawn by the caller, same shape as `real`.
    scale: the fraction of std(x); 0.5 in the authors' code.
    axis_name: inside `pmap`, the device axis: std(x) is then taken over the global batch (all
      devices), so the perturbation does not depend on the device count.
  """
  mean, mean_square = jnp.mean(real), jnp.mean(jnp.square(real))
  if axis_name is not None:
    mean, mean_square = lax.pmean((mean, mean_square), axis_name)
  std = jnp.sqrt(jnp.maximum(mean_square - jnp.square(mean), 0.0))
  return scale * std * noise


def dragan_penalty(critic_fn: CriticFn, real: Array, perturbation: Array) -> Array:
  """DRAGAN (Kodali et al. 2017): E[(||grad_xhat D(xhat)||_2 - 1)^2], xhat = x + delta.

  Penalises sharp critic gradients in a neighbourhood of the real data; the caller multiplies by
  lambda (10 in the paper) and adds it to a cross-entropy J_D. The authors' code also scales each
  example's delta by its own alpha ~ U(0, 1) (xhat = x + alpha * delta); to reproduce it, the
  caller multiplies `perturbation` by alpha reshaped to (B, 1, 1, 1).

  Args:
    critic_fn: images -> (B,) scores.
    real: (B, H, W, C) real images x.
    perturbation: delta, same shape, e.g. `dragan_perturbation(real, noise)`.
  """
  norms = input_gradient_norms(critic_fn, real + perturbation)
  return jnp.mean(jnp.square(norms - 1.0))


def r1_penalty(critic_fn: CriticFn, real: Array) -> Array:
  """R1 (Mescheder et al. 2018): E[||grad_x D(x)||_2^2] on real images x.

  Returned without the paper's gamma / 2: the caller adds gamma / 2 * r1_penalty to J_D. With
  lazy regularisation (StyleGAN2, Karras et al. 2020), applied only every k-th critic step, the
  caller multiplies by k as well so that the penalty keeps its average weight.

  Args:
    critic_fn: images -> (B,) scores.
    real: (B, H, W, C) real images.
  """
  return jnp.mean(input_gradient_squared_norms(critic_fn, real))


def clip_weights(params: PyTree, clip: float) -> PyTree:
  """Every parameter clipped to [-c, c]: WGAN's Lipschitz constraint (Arjovsky et al. 2017).

  Applied to the critic's parameters after each optimiser update (c = 0.01 in the paper).
  """
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)


def cross_entropy(logits: Array, classes: Array) -> Array:
  """Mean softmax cross-entropy of (B, K) logits against (B,) integer classes."""
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
  return -jnp.mean(jnp.take_along_axis(log_probs, classes[:, None], axis=-1))


def mean_squared_error(predicted: Array, target: Array) -> Array:
  """Mean over examples and components of (predicted - target)^2."""
  return jnp.mean(jnp.square(predicted.astype(jnp.float32) - target))


def mean_absolute_error(predicted: Array, target: Array) -> Array:
  """Mean over examples and components of |predicted - target|."""
  return jnp.mean(jnp.abs(predicted.astype(jnp.float32) - target))


REGRESSION_LOSSES = {'mse': mean_squared_error, 'mae': mean_absolute_error}


def label_losses(predictions: Mapping[str, Array], labels: Mapping[str, Array],
                 spec: LabelSpec, regression: str = 'mse') -> dict[str, Array]:
  """Per label of `spec`: cross-entropy for categorical labels, `regression` ('mse' or 'mae',
  `REGRESSION_LOSSES`) for continuous ones.

  For telescope labels: cross-entropy on particle type, MSE on energy and on direction.

  Args:
    predictions: per label, (B, K) logits or (B,) / (B, size) values.
    labels: per label, (B,) int classes or (B,) / (B, size) values.
    spec: the labels' kinds (`jaxgan.labels`).
    regression: the loss of the continuous labels.
  """
  return {label.name: (cross_entropy if label.num_classes else REGRESSION_LOSSES[regression])(
      predictions[label.name], labels[label.name]) for label in spec}

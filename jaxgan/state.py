"""GANState: everything a training run needs to continue bit for bit, as one immutable pytree.

The optax transformations are not part of the state: they are rebuilt from the config and bound
into the step (see `steps.StepConfig`), so a checkpoint holds arrays only.
"""

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

PyTree = Any

# Fields added to the state after runs were saved without them, each with the field whose value
# stands in for it when such a run is restored (`checkpoint.Checkpointer`).
LATER_FIELDS = {'generator_ema_batch_stats': 'generator_batch_stats'}


@flax.struct.dataclass
class GANState:
  """Training state of a GAN.

  Attributes:
    step: number of completed iterations (generator updates), int32 scalar.
    key: raw uint32 data of the run's root PRNG key (threefry); every random draw of iteration
      `step` is derived from `fold_in(key, step)`, so the state needs no key splitting to resume.
    generator_params, generator_batch_stats, generator_opt_state: the generator's variables and
      its optimizer state.
    critic_params, critic_batch_stats, critic_opt_state: the critic's parameters, BatchNorm
      statistics (an empty dict for critics without BatchNorm) and optimizer state.
    generator_ema_params: exponential moving average of the generator's parameters
      (`train.ema_decay` > 0), used for samples and evaluation; an empty dict when disabled.
    generator_ema_batch_stats: BatchNorm statistics of those EMA parameters: a running average,
      like the live ones, of a training-mode pass of the EMA parameters each iteration
      (`steps.ema_statistics_update`); an empty dict without EMA.
    predictor_params, predictor_batch_stats, predictor_opt_state: the label predictor's
      variables and optimizer state when it trains alongside the critic
      (`predictor.alongside`); empty dicts when it is frozen (then it is no part of the state)
      or absent.
    nonfinite_updates: number of updates of the run (critic, predictor or generator) whose loss or
      gradients were not finite, int32 scalar; with `train.nonfinite='skip'` each was skipped.
  """
  step: jax.Array
  key: jax.Array
  generator_params: PyTree
  generator_batch_stats: PyTree
  generator_opt_state: PyTree
  critic_params: PyTree
  critic_batch_stats: PyTree
  critic_opt_state: PyTree
  generator_ema_params: PyTree
  generator_ema_batch_stats: PyTree
  predictor_params: PyTree
  predictor_batch_stats: PyTree
  predictor_opt_state: PyTree
  nonfinite_updates: jax.Array

  @property
  def generator_variables(self) -> dict[str, PyTree]:
    """The generator's variables as `generator.apply` takes them."""
    return {'params': self.generator_params, 'batch_stats': self.generator_batch_stats}

  @property
  def sampling_variables(self) -> dict[str, PyTree]:
    """The generator's variables for samples and evaluation: the EMA parameters with their own
    BatchNorm statistics when kept, else the live ones."""
    if self.generator_ema_params:
      return {'params': self.generator_ema_params, 'batch_stats': self.generator_ema_batch_stats}
    return self.generator_variables

  @property
  def predictor_variables(self) -> dict[str, PyTree]:
    """The variables of the predictor trained alongside, as `predictor.apply` takes them."""
    return {'params': self.predictor_params, 'batch_stats': self.predictor_batch_stats}


def init_state(key: jax.Array, generator: nn.Module, critic: nn.Module,
               generator_tx: optax.GradientTransformation,
               critic_tx: optax.GradientTransformation,
               latent_dim: int, label_dim: int, image_shape: tuple[int, ...],
               keep_ema: bool = False, predictor_variables: PyTree = None,
               predictor_tx: optax.GradientTransformation | None = None) -> GANState:
  """Initial state: fresh parameters from `key`, zero step.

  Args:
    key: typed PRNG key of the run (from `jax.random.key(seed)`).
    generator, critic: the Flax modules (built with `axis_name=None`); the critic's `label_dim`
      is the size of the labels it projects (0: none).
    generator_tx, critic_tx: their optax optimizers.
    latent_dim, label_dim: sizes of the generator's two inputs (label_dim 0: unconditional).
    image_shape: (H, W, C) of one image.
    keep_ema: whether to keep an EMA of the generator's parameters (starting at them).
    predictor_variables: the predictor's starting variables {'params', 'batch_stats'}.
    predictor_tx: the predictor's optimizer when it trains alongside the critic; None (frozen
      or no predictor): the state holds no predictor, whatever `predictor_variables` are.
  """
  run_key, generator_key, critic_key = jax.random.split(key, 3)
  z = jnp.zeros((1, latent_dim), jnp.float32)
  labels = jnp.zeros((1, label_dim), jnp.float32)
  generator_variables = generator.init(generator_key, z, labels, train=False)
  critic_labels = jnp.zeros((1, critic.label_dim), jnp.float32) if critic.label_dim else None
  critic_variables = critic.init(critic_key, jnp.zeros((1, *image_shape), jnp.float32),
                                 critic_labels)
  critic_params = critic_variables['params']
  return GANState(
      step=jnp.zeros((), jnp.int32),
      key=jax.random.key_data(run_key),
      generator_params=generator_variables['params'],
      generator_batch_stats=generator_variables.get('batch_stats', {}),
      generator_opt_state=generator_tx.init(generator_variables['params']),
      critic_params=critic_params,
      critic_batch_stats=critic_variables.get('batch_stats', {}),
      critic_opt_state=critic_tx.init(critic_params),
      generator_ema_params=generator_variables['params'] if keep_ema else {},
      generator_ema_batch_stats=generator_variables.get('batch_stats', {}) if keep_ema else {},
      **_predictor_fields(predictor_variables, predictor_tx),
      nonfinite_updates=jnp.zeros((), jnp.int32),
  )


def _predictor_fields(variables: PyTree,
                      tx: optax.GradientTransformation | None) -> dict[str, PyTree]:
  """The state's predictor fields: its variables and a fresh optimizer state, or empty dicts."""
  if tx is None:
    return {'predictor_params': {}, 'predictor_batch_stats': {}, 'predictor_opt_state': {}}
  return {'predictor_params': variables['params'],
          'predictor_batch_stats': variables['batch_stats'],
          'predictor_opt_state': tx.init(variables['params'])}

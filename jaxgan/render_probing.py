"""The render probe: can a generator draw the data when it is told everything? A supervised bound
on a GAN run (`python -m jaxgan.render_probe` runs `run_to_file`).

A GAN's generator must discover how its latent vector maps to images. This probe removes that
problem and asks only whether the architecture can *draw* the data within a step budget: the
run's generator (`config.model`, the same widths, optimizer and batch) is trained by regression
(mean squared error, network units) onto the toy simulator's noise-free expected images, its
latent vector holding every hidden variable of each event:

  z = [cos, sin of the impact azimuth, the event's shower variates as standard normals, zeros]

(the shower variates set the primary, the impact, the image size and shape fluctuations and the
proton sub-showers: `toy_iact.sample_shower`; the azimuth comes first because it is the one angle
among them, and `ctgan_frame`'s generator reads its azimuth from z's first two entries; the zeros
fill the rest of `model.latent_dim`, including a per-pixel noise map), and the label vector the
usual one. The target is then a deterministic function of the inputs, so a generator that cannot
regress it within a step budget cannot be taught it by a critic in that budget either.

Every `eval_every` steps, on 2,048 fixed events (`EVAL_EVENTS`) never used for training, the
probe logs `explained_variance` (1 - squared error / squared target, network units, gammas only:
1 is a perfect drawing, 0 a blank camera) and, on the drawings in photoelectrons, the measures
of the training probe (`sampling.label_response`: gamma median alpha, length, width after
tailcut cleaning, and the size-energy correlation), next to the same measures of the targets.
Only `data.name='toy_iact'` has hidden variables to give.

Measured on 2026-12-07 at ee407a2 on a 2-core CPU, `python -m jaxgan.render_probe
--config=CONFIG --steps=600 --eval_every=100`: the source's generator at reduced widths explains
22% of the gammas' variance at step 600, and none of its drawn gammas survives the cleaning; the
frame generator (today's experiments/ctgan.py) explains 92%, its gammas at alpha 1.3 deg.
"""

import json
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from jaxgan import assembly
from jaxgan import labels as labels_lib
from jaxgan import sampling
from jaxgan.data import dataset as data_lib
from jaxgan.data import toy_iact
from jaxgan.models import ctgan_frame

EVAL_EVENTS = 2048  # fixed held-out events of every evaluation
_TRAIN_STREAM, _EVAL_STREAM, _INIT = 0, 1, 2  # fold_in tags of the probe's keys


def hidden_size(toy_config: ml_collections.ConfigDict) -> int:
  """Entries of z that carry an event's hidden variables (the rest of z is zeros): the azimuth
  in as many entries as the frame generator reads it from, then the shower variates."""
  return ctgan_frame.AZIMUTH_ENTRIES + toy_iact.num_shower_uniforms(toy_config)


def hidden_latents(shower_uniforms: jax.Array, impact_azimuth: jax.Array,
                   latent_dim: int) -> jax.Array:
  """(B, latent_dim) z = [cos, sin of the azimuth, normals of the shower variates, zeros]."""
  normals = jax.scipy.special.ndtri(shower_uniforms)
  hidden = jnp.concatenate([jnp.cos(impact_azimuth)[:, None], jnp.sin(impact_azimuth)[:, None],
                            normals], axis=-1)
  if hidden.shape[-1] > latent_dim:
    raise ValueError(f'model.latent_dim={latent_dim} cannot hold the {hidden.shape[-1]} hidden '
                     'variables of an event; raise it for the probe')
  return jnp.pad(hidden, ((0, 0), (0, latent_dim - hidden.shape[-1])))


def events(key: jax.Array, indices: jax.Array, toy_config: ml_collections.FrozenConfigDict,
           latent_dim: int) -> tuple[jax.Array, dict[str, jax.Array], jax.Array]:
  """Events `indices` of the stream `key`, as `toy_iact.simulate_events` draws them: (z, labels,
  noise-free expected images (B, n, n, 1) in photoelectrons)."""

  def one(index):
    shower_uniforms, _ = toy_iact.event_uniforms(jax.random.fold_in(key, index), toy_config)
    primary, shower = toy_iact.sample_shower(shower_uniforms, toy_config)
    return shower_uniforms, primary, toy_iact.expected_image(shower, toy_config)

  shower_uniforms, primary, expected = jax.vmap(one)(indices)
  labels = toy_iact.primary_labels(primary)
  z = hidden_latents(shower_uniforms, primary.impact_azimuth, latent_dim)
  return z, labels, expected[..., None]


def explained_variance(drawn: np.ndarray, target: np.ndarray) -> float:
  """1 - sum (drawn - target)^2 / sum target^2: 1 for a perfect drawing, 0 for all zeros."""
  return float(1.0 - np.sum(np.square(drawn - target)) / np.sum(np.square(target)))


class _Probe:
  """The regression of `config`'s generator and its evaluations."""

  def __init__(self, config: ml_collections.ConfigDict):
    if config.data.name != 'toy_iact':
      raise ValueError(f"the render probe needs data.name='toy_iact' (the simulator's hidden "
                       f'variables), got {config.data.name!r}')
    self.config = config
    self.toy = ml_collections.FrozenConfigDict(config.data.toy_iact)
    self.generator, _ = assembly.build_networks(config)
    self.label_dim = assembly.conditioning_of(config).generator_label_dim
    self.tx, _ = assembly.make_optimizers(config)
    train, _ = data_lib.load_splits(config.data)
    self.normalisation = assembly.normalisation_of(config.data, train)  # the run's
    self.key = jax.random.key(config.seed)
    self._step = jax.jit(self._update)
    z, label_vector, labels, expected = self._inputs(_EVAL_STREAM, jnp.arange(EVAL_EVENTS))
    self._eval_inputs = (z, label_vector)
    self._eval_labels = {name: np.asarray(value) for name, value in labels.items()}
    self._eval_target = np.asarray(self.normalisation.forward(expected))
    self._target_measures = self._measures('target', np.asarray(expected))

  def _inputs(self, stream: int, indices: jax.Array):
    z, labels, expected = events(jax.random.fold_in(self.key, stream), indices, self.toy,
                                 self.config.model.latent_dim)
    label_vector = labels_lib.label_vector(labels, labels_lib.TELESCOPE)[:, :self.label_dim]
    return z, label_vector, labels, expected

  def init(self) -> tuple[Any, Any]:
    z, label_vector, _, _ = self._inputs(_TRAIN_STREAM, jnp.arange(2))
    variables = self.generator.init(jax.random.fold_in(self.key, _INIT), z, label_vector,
                                    train=False)
    return variables, self.tx.init(variables['params'])

  def _update(self, variables, opt_state, step):
    batch = self.config.train.batch_size
    z, label_vector, _, expected = self._inputs(_TRAIN_STREAM, step * batch + jnp.arange(batch))
    target = self.normalisation.forward(expected)

    def loss_fn(params):
      drawn, updates = self.generator.apply({**variables, 'params': params}, z, label_vector,
                                            train=True, mutable=['batch_stats'])
      return jnp.mean(jnp.square(drawn - target)), updates

    (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables['params'])
    changes, opt_state = self.tx.update(grads, opt_state, variables['params'])
    params = optax.apply_updates(variables['params'], changes)
    return {**variables, **updates, 'params': params}, opt_state, loss

  def update(self, variables, opt_state, step: int):
    return self._step(variables, opt_state, jnp.asarray(step, jnp.int32))

  def _measures(self, prefix: str, images: np.ndarray) -> dict[str, float]:
    """The training probe's measures of (EVAL_EVENTS, n, n, 1) images in photoelectrons."""
    response = sampling.label_response(images[..., 0], self._eval_labels,
                                       toy_iact.camera(self.toy))
    return {f'{prefix}_{name}': value for name, value in response.items()}

  def evaluate(self, variables) -> dict[str, float]:
    """The drawings of the fixed evaluation events, scored (the targets' measures beside)."""
    drawn = np.asarray(self.generator.apply(variables, *self._eval_inputs, train=False))
    gammas = self._eval_labels['particletype'] == toy_iact.GAMMA
    return {'explained_variance': explained_variance(drawn[gammas], self._eval_target[gammas]),
            **self._measures('drawn', self.normalisation.inverse(drawn)),
            **self._target_measures}


def run(config: ml_collections.ConfigDict, num_steps: int, eval_every: int) -> list[dict]:
  """Trains `config`'s generator by regression for `num_steps` and evaluates it every
  `eval_every` steps and at the end; returns one row per evaluation: 'step', 'seconds' of
  regression so far (its compilation included, evaluations not), 'mse' of the last batch, and
  the measures of `_Probe.evaluate`."""
  if num_steps < 1 or eval_every < 1:
    raise ValueError(f'steps and eval_every must be >= 1, got {num_steps} and {eval_every}')
  probe = _Probe(config)
  variables, opt_state = probe.init()
  rows, seconds = [], 0.0
  for step in range(1, num_steps + 1):
    start = time.perf_counter()
    variables, opt_state, loss = jax.block_until_ready(probe.update(variables, opt_state, step - 1))
    seconds += time.perf_counter() - start
    if step % eval_every == 0 or step == num_steps:
      row = {'step': step, 'seconds': round(seconds, 1), 'mse': float(loss),
             **probe.evaluate(variables)}
      logging.info('render probe %s', {k: round(v, 4) for k, v in row.items()})
      rows.append(row)
  return rows


def run_to_file(config: ml_collections.ConfigDict, num_steps: int | None = None,
                eval_every: int = 100, output: str | None = None) -> list[dict]:
  """`run` (num_steps None: `train.num_steps`), its rows written with the config to the JSON
  file `output` when one is given; returns the rows."""
  rows = run(config, num_steps or config.train.num_steps, eval_every)
  if output:
    with open(output, 'w') as f:
      json.dump({'config': config.to_dict(), 'rows': rows}, f, indent=1, default=str)
  return rows

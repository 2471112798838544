"""Telescope-event labels: their names, units, and the vector the networks are conditioned on.

Labels follow the jaxgan HDF5 convention (CTLearn's): `particletype` is an int (gamma 1, proton 0),
`energy` is log10(E / TeV), `direction` is the arrival direction relative to the telescope
pointing, in degrees (2 components: camera x and y). Values are used in these physical units with
no rescaling: they are all of order one.
"""

from typing import Mapping

import jax.numpy as jnp
import numpy as np

PARTICLE_NAMES = ('proton', 'gamma')  # index = particletype value
NUM_PARTICLE_TYPES = len(PARTICLE_NAMES)
LABEL_KEYS = ('particletype', 'energy', 'direction')
LABEL_DIM = NUM_PARTICLE_TYPES + 1 + 2  # one-hot type, energy, 2-d direction

Labels = Mapping[str, np.ndarray]


def label_vector(labels: Labels) -> jnp.ndarray:
  """Conditioning vector: [one-hot particle type, log10 energy, direction x, direction y].

  Args:
    labels: `particletype` (B,) int, `energy` (B,) float, `direction` (B, 2) float.

  Returns:
    (B, LABEL_DIM) float32 array.
  """
  one_hot = jnp.eye(NUM_PARTICLE_TYPES, dtype=jnp.float32)[labels['particletype']]
  energy = jnp.asarray(labels['energy'], jnp.float32)[:, None]
  direction = jnp.asarray(labels['direction'], jnp.float32)
  return jnp.concatenate([one_hot, energy, direction], axis=-1)


def predictions_from_vector(outputs: jnp.ndarray) -> dict[str, jnp.ndarray]:
  """Reads (B, LABEL_DIM) network outputs laid out like `label_vector` as label predictions.

  Returns:
    `particletype` (B, 2) logits, `energy` (B,), `direction` (B, 2): the layout of the
    predictor's outputs, ready for `losses.label_losses`.
  """
  return {'particletype': outputs[:, :NUM_PARTICLE_TYPES],
          'energy': outputs[:, NUM_PARTICLE_TYPES],
          'direction': outputs[:, NUM_PARTICLE_TYPES + 1:]}

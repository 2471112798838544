"""Labels: what each dataset's labels are, and the vector the networks are conditioned on.

A dataset declares its labels as a `LabelSpec`, a tuple of `Label`s, each categorical (integer
classes, one-hot in the label vector, cross-entropy as its loss) or continuous (floats, as they
are in the vector, mean squared error as its loss). The label vector concatenates them in order.

Telescope events (`TELESCOPE`) follow the jaxgan HDF5 convention (CTLearn's): `particletype` is
an int (gamma 1, proton 0), `energy` is log10(E / TeV), `direction` is the arrival direction
relative to the telescope pointing, in degrees (2 components: camera x and y). Values are used in
these physical units with no rescaling: they are all of order one.
"""

import dataclasses
from typing import Mapping

import jax.numpy as jnp
import numpy as np

Labels = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Label:
  """One label of a dataset.

  Attributes:
    name: its key in the labels dict.
    num_classes: > 0 for a categorical label (values 0..num_classes-1); 0 for a continuous one.
    size: components of a continuous label; 1 means one value per example, shape (B,).
  """
  name: str
  num_classes: int = 0
  size: int = 1

  @property
  def width(self) -> int:
    """Its columns in the label vector."""
    return self.num_classes or self.size

  @property
  def scalar(self) -> bool:
    """A continuous label of one value per example: its values and predictions are (B,)."""
    return not self.num_classes and self.size == 1


LabelSpec = tuple[Label, ...]

PARTICLE_NAMES = ('proton', 'gamma')  # index = particletype value
NUM_PARTICLE_TYPES = len(PARTICLE_NAMES)
TELESCOPE: LabelSpec = (Label('particletype', num_classes=NUM_PARTICLE_TYPES), Label('energy'),
                        Label('direction', size=2))
LABEL_KEYS = tuple(label.name for label in TELESCOPE)


def vector_size(spec: LabelSpec) -> int:
  """Columns of the label vector of `spec`."""
  return sum(label.width for label in spec)


LABEL_DIM = vector_size(TELESCOPE)  # one-hot type, energy, 2-d direction


def vector_columns(spec: LabelSpec, name: str) -> tuple[int, int]:
  """(start, stop) of label `name`'s columns in `label_vector(labels, spec)`."""
  start = 0
  for label in spec:
    if label.name == name:
      return start, start + label.width
    start += label.width
  raise KeyError(f'no label {name!r} in {[label.name for label in spec]}')


def label_vector(labels: Labels, spec: LabelSpec) -> jnp.ndarray:
  """The conditioning vector: each label of `spec` in order, categorical ones one-hot.

  For `TELESCOPE`: [one-hot particle type, log10 energy, direction x, direction y].

  Returns:
    (B, vector_size(spec)) float32 array; `spec` must not be empty.
  """
  columns = []
  for label in spec:
    values = jnp.asarray(labels[label.name])
    if label.num_classes:
      columns.append(jnp.eye(label.num_classes, dtype=jnp.float32)[values])
    else:
      columns.append(values.astype(jnp.float32).reshape(values.shape[0], label.size))
  return jnp.concatenate(columns, axis=-1)


def predictions_from_vector(outputs: jnp.ndarray, spec: LabelSpec) -> dict[str, jnp.ndarray]:
  """Reads (B, vector_size(spec)) network outputs laid out like `label_vector` as predictions.

  Returns:
    Per label: (B, num_classes) logits for a categorical label, (B,) or (B, size) values for a
    continuous one (the shapes of the labels): ready for `losses.label_losses`.
  """
  predictions, start = {}, 0
  for label in spec:
    columns = outputs[:, start:start + label.width]
    predictions[label.name] = columns[:, 0] if label.scalar else columns
    start += label.width
  return predictions

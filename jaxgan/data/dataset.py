"""Labelled image splits, and the registry of datasets looked up by `data.name`.

A dataset module exposes `load_splits(data_config) -> (train, validation)` of `Split`s, with
images in physical units (photoelectrons for telescope data). Normalisation for the networks
happens in `jaxgan.data.pipeline`, not here.
"""

import dataclasses
from typing import Callable

import jax
import numpy as np

from jaxgan.data import labels as labels_lib
from jaxgan.data import toy_iact  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Split:
  """A labelled set of images held in memory.

  Attributes:
    images: (N, H, W, C) float32.
    labels: `particletype` (N,) int32, `energy` (N,) float32, `direction` (N, 2) float32.
  """
  images: np.ndarray
  labels: dict[str, np.ndarray]

  def __post_init__(self):
    for name in labels_lib.LABEL_KEYS:
      if len(self.labels[name]) != len(self.images):
        raise ValueError(f'label {name!r} has {len(self.labels[name])} entries for '
                         f'{len(self.images)} images')

  def __len__(self) -> int:
    return len(self.images)

  @property
  def image_shape(self) -> tuple[int, ...]:
    return tuple(self.images.shape[1:])

  def take(self, indices: np.ndarray) -> 'Split':
    """The examples at `indices`, in that order."""
    return Split(self.images[indices], {k: v[indices] for k, v in self.labels.items()})


def split_train_validation(data: Split, validation_fraction: float) -> tuple[Split, Split]:
  """First (1 - fraction) of the examples for training, the rest for validation."""
  num_train = int(round(len(data) * (1.0 - validation_fraction)))
  if not 0 < num_train < len(data):
    raise ValueError(f'data.validation_fraction={validation_fraction} leaves an empty split of '
                     f'{len(data)} examples')
  return data.take(np.arange(num_train)), data.take(np.arange(num_train, len(data)))


def _load_toy_iact(data_config) -> tuple[Split, Split]:
  images, labels = toy_iact.simulate(jax.random.key(data_config.seed), data_config.num_examples,
                                     data_config.toy_iact)
  return split_train_validation(Split(images, labels), data_config.validation_fraction)


DATASETS: dict[str, Callable[..., tuple[Split, Split]]] = {
    'toy_iact': _load_toy_iact,
}


def load_splits(data_config) -> tuple[Split, Split]:
  """(train, validation) splits of the dataset named `data_config.name`."""
  if data_config.name not in DATASETS:
    raise ValueError(f'data.name={data_config.name!r} is unknown; choose one of {sorted(DATASETS)}')
  return DATASETS[data_config.name](data_config)

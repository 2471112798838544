"""Batches for training: deterministic per-epoch shuffling, normalisation, device sharding.

The order is a pure function of (seed, step): batch `step` comes from epoch
`step // steps_per_epoch` of a permutation drawn from (seed, epoch). A resumed run therefore
continues exactly the order of an uninterrupted one, with no iterator state to save.
"""

import functools

import numpy as np

from jaxgan.data.dataset import Split


@functools.lru_cache(maxsize=2)
def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  """The shuffled order of the examples in `epoch`."""
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def batch_indices(num_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """Indices of the examples of training batch `step` (the incomplete last batch is dropped)."""
  steps_per_epoch = num_examples // batch_size
  if steps_per_epoch == 0:
    raise ValueError(f'train.batch_size={batch_size} exceeds the {num_examples} training examples')
  epoch, index = divmod(step, steps_per_epoch)
  return epoch_permutation(num_examples, seed, epoch)[index * batch_size:(index + 1) * batch_size]


def image_scale(split: Split) -> float:
  """The normalisation scale of a dataset: the standard deviation of its pixels."""
  return float(np.std(split.images, dtype=np.float64))


def shard(array: np.ndarray, num_devices: int) -> np.ndarray:
  """(B, ...) -> (num_devices, B // num_devices, ...); B must divide evenly."""
  return array.reshape((num_devices, array.shape[0] // num_devices) + array.shape[1:])


def training_batch(split: Split, batch_size: int, seed: int, step: int, scale: float,
                   num_devices: int) -> dict:
  """Batch `step`: images divided by `scale`, everything split over `num_devices`."""
  batch = split.take(batch_indices(len(split), batch_size, seed, step))
  images = (batch.images / np.float32(scale)).astype(np.float32)
  return {'images': shard(images, num_devices),
          'labels': {k: shard(v, num_devices) for k, v in batch.labels.items()}}

"""Batches for training: deterministic per-epoch shuffling, normalisation, device sharding.

Networks never see physical units. `Normalisation` maps photoelectrons to network units and
back: 'asinh' (the default) is asinh(x / scale), linear for pixels near the noise level and
logarithmic for bright shower cores, which tames the ~1000:1 dynamic range of telescope images
and keeps negative (pedestal-subtracted) pixels; 'linear' is x / scale. `scale` defaults to the
robust noise level of the training pixels (1.4826 x their median absolute deviation).

The order is a pure function of (seed, step): batch `step` comes from epoch
`step // steps_per_epoch` of a permutation drawn from (seed, epoch). A resumed run therefore
continues exactly the order of an uninterrupted one, with no iterator state to save. With several
processes, each computes the same order and reads only its own part of every batch.
"""

import dataclasses
import functools

import numpy as np

from jaxgan.data.split import Split


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


TRANSFORMS = ('asinh', 'linear')


@dataclasses.dataclass(frozen=True)
class Normalisation:
  """Physical units <-> network units: `forward` before the networks, `inverse` after."""
  scale: float
  transform: str = 'asinh'

  def __post_init__(self):
    if self.transform not in TRANSFORMS:
      raise ValueError(f'data.transform={self.transform!r}; choose one of {TRANSFORMS}')
    if not self.scale > 0:
      raise ValueError(f'data.image_scale must be > 0, got {self.scale}')

  def forward(self, images: np.ndarray) -> np.ndarray:
    scaled = np.asarray(images, np.float32) / np.float32(self.scale)
    return np.arcsinh(scaled) if self.transform == 'asinh' else scaled

  def inverse(self, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, np.float32)
    return np.float32(self.scale) * (np.sinh(images) if self.transform == 'asinh' else images)


def noise_scale(split: Split, max_pixels: int = 10_000_000) -> float:
  """Robust noise level of a split's pixels: 1.4826 x median absolute deviation (on a sample).

  Cleaned images (most pixels exactly 0) have no noise to measure; their scale is then the median
  magnitude of the non-zero pixels, and 1 for all-zero images.
  """
  pixels = split.pixel_sample(max_pixels).astype(np.float64)
  robust = 1.4826 * np.median(np.abs(pixels - np.median(pixels)))
  if robust > 0:
    return float(robust)
  nonzero = np.abs(pixels[pixels != 0])
  return float(np.median(nonzero)) if nonzero.size else 1.0


def shard(array: np.ndarray, num_devices: int) -> np.ndarray:
  """(B, ...) -> (num_devices, B // num_devices, ...); B must divide evenly."""
  return array.reshape((num_devices, array.shape[0] // num_devices) + array.shape[1:])


def process_part(indices: np.ndarray, process_index: int, process_count: int) -> np.ndarray:
  """Part `process_index` of `process_count` equal consecutive parts of a batch's `indices`."""
  size = len(indices) // process_count
  return indices[process_index * size:(process_index + 1) * size]


def training_batch(split: Split, batch_size: int, seed: int, step: int,
                   normalisation: Normalisation, num_devices: int, process_index: int = 0,
                   process_count: int = 1) -> dict:
  """This process's share of batch `step`: images in network units, split over its devices.

  The global batch of `batch_size` examples is split over `num_devices` devices, those of all
  `process_count` processes, `num_devices // process_count` each, process by process. Its indices
  are the same on every process; process `process_index` reads only its part (`process_part`)
  and returns it as (local devices, batch_size // num_devices, ...).
  """
  indices = batch_indices(len(split), batch_size, seed, step)
  batch = split.take(process_part(indices, process_index, process_count))
  local_devices = num_devices // process_count
  return {'images': shard(normalisation.forward(batch.images), local_devices),
          'labels': {k: shard(v, local_devices) for k, v in batch.labels.items()}}

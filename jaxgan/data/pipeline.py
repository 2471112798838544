"""Batches for training: deterministic per-epoch shuffling, normalisation, device sharding.

Networks never see physical units. `Normalisation` maps photoelectrons to network units and
back: 'asinh' (the default) is asinh(x / scale), linear for pixels near the noise level and
logarithmic for bright shower cores, which tames the ~1000:1 dynamic range of telescope images
and keeps negative (pedestal-subtracted) pixels; 'linear' is x / scale. `scale` defaults to the
robust noise level of the training pixels (1.4826 x their median absolute deviation).

The order is a pure function of (seed, step): batch `step` comes from epoch
`step // steps_per_epoch` of a permutation drawn from (seed, epoch). A resumed run therefore
continues exactly the order of an uninterrupted one, with no iterator state to save.
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


def training_batch(split: Split, batch_size: int, seed: int, step: int,
                   normalisation: Normalisation, num_devices: int) -> dict:
  """Batch `step`: images in network units, everything split over `num_devices`."""
  batch = split.take(batch_indices(len(split), batch_size, seed, step))
  return {'images': shard(normalisation.forward(batch.images), num_devices),
          'labels': {k: shard(v, num_devices) for k, v in batch.labels.items()}}

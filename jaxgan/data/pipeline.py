"""Batches for training: deterministic per-epoch shuffling, normalisation, device sharding.

Networks never see physical units. `Normalisation` maps photoelectrons to network units and
back: 'asinh' (the default) is asinh(x / scale), linear for pixels near the noise level and
logarithmic for bright shower cores, which tames the ~1000:1 dynamic range of telescope images
and keeps negative (pedestal-subtracted) pixels; 'linear' is x / scale. `scale` defaults to the
robust noise level of the training pixels (1.4826 x their median absolute deviation).

Where the training split fits (`keep_on_devices`), it is normalised once and copied to every
device; each iteration then sends only the rows' indices and the step gathers them
(`steps.batch_examples`), so no image crosses from host to device during training. Otherwise each
batch is read, normalised and sent (`training_batch`). With `data.online_simulation` (the toy
simulator only) no training image exists before the step: each iteration sends its batch's event
numbers (`simulated_events`) and the step simulates those events on the devices.

The order is a pure function of (seed, step): batch `step` comes from epoch
`step // steps_per_epoch` of a permutation drawn from (seed, epoch), in consecutive slices of the
batch size; an epoch's incomplete last slice is dropped, or kept as a smaller batch
(`keep_partial`, `train.keep_partial_batch`: PyTorch's DataLoader with shuffle=True,
drop_last=False). A resumed run therefore continues exactly the order of an uninterrupted one,
with no iterator state to save. With several processes, each computes the same order and reads
only its own part of every batch.
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.data.split import Split


@functools.lru_cache(maxsize=2)
def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  """The shuffled order of the examples in `epoch`."""
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def steps_per_epoch(num_examples: int, batch_size: int, keep_partial: bool = False) -> int:
  """Batches of an epoch: the full ones, and with `keep_partial` the incomplete last one."""
  return -(-num_examples // batch_size) if keep_partial else num_examples // batch_size


def batch_indices(num_examples: int, batch_size: int, seed: int, step: int,
                  keep_partial: bool = False) -> np.ndarray:
  """Indices of the examples of training batch `step` (the incomplete last batch of an epoch is
  dropped, or with `keep_partial` is the epoch's last batch)."""
  per_epoch = steps_per_epoch(num_examples, batch_size, keep_partial)
  if per_epoch == 0:
    raise ValueError(f'train.batch_size={batch_size} exceeds the {num_examples} training examples')
  epoch, index = divmod(step, per_epoch)
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

  def forward(self, images: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """NumPy images to NumPy; JAX arrays (e.g. images simulated inside a step) to JAX."""
    xp = jnp if isinstance(images, jax.Array) else np
    scaled = xp.asarray(images, xp.float32) / xp.float32(self.scale)
    return xp.arcsinh(scaled) if self.transform == 'asinh' else scaled

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


def local_batch_indices(num_examples: int, batch_size: int, seed: int, step: int,
                        num_devices: int, process_index: int = 0, process_count: int = 1,
                        keep_partial: bool = False) -> np.ndarray:
  """This process's rows of batch `step` as (local devices, batch_size // num_devices) indices;
  an epoch's last batch with `keep_partial` has fewer (`batch_indices`).

  The global batch of `batch_size` examples is split over `num_devices` devices, those of all
  `process_count` processes, `num_devices // process_count` each, process by process. Its
  indices are the same on every process; process `process_index` keeps only its part
  (`process_part`).
  """
  return _local_part(batch_indices(num_examples, batch_size, seed, step, keep_partial),
                     num_devices, process_index, process_count)


def simulated_events(first_event: int, batch_size: int, step: int, num_devices: int,
                     process_index: int = 0, process_count: int = 1) -> np.ndarray:
  """This process's event numbers of batch `step` when the simulator makes every batch afresh
  (`data.online_simulation`): events first_event + step * batch_size + i of its stream, as
  (local devices, batch_size // num_devices), split like `local_batch_indices`."""
  last = first_event + (step + 1) * batch_size
  if last > np.iinfo(np.int32).max:
    raise ValueError(f'batch {step} needs simulated event {last}, beyond the int32 event numbers')
  events = first_event + step * batch_size + np.arange(batch_size)
  return _local_part(events, num_devices, process_index, process_count)


def _local_part(indices: np.ndarray, num_devices: int, process_index: int,
                process_count: int) -> np.ndarray:
  """This process's part of a global batch's `indices`, int32, split over its devices."""
  return shard(process_part(indices, process_index, process_count).astype(np.int32),
               num_devices // process_count)


def training_batch(split: Split, batch_size: int, seed: int, step: int,
                   normalisation: Normalisation, num_devices: int, process_index: int = 0,
                   process_count: int = 1, keep_partial: bool = False) -> dict:
  """This process's share of batch `step` (`local_batch_indices`): images in network units and
  labels, as (local devices, batch_size // num_devices, ...). Reads only those rows."""
  indices = local_batch_indices(len(split), batch_size, seed, step, num_devices, process_index,
                                process_count, keep_partial)
  batch = split.take(indices.reshape(-1))
  local_devices = indices.shape[0]
  return {'images': shard(normalisation.forward(batch.images), local_devices),
          'labels': {k: shard(v, local_devices) for k, v in batch.labels.items()}}


DATA_ON_DEVICE = ('auto', 'always', 'never')
DEVICE_SHARE = 0.25  # 'auto' keeps the data on the devices if it takes at most this share


def device_bytes(split: Split) -> int:
  """Bytes of a split as the devices would hold it: float32 images and its labels."""
  return (4 * len(split) * math.prod(split.image_shape)
          + sum(np.asarray(values).nbytes for values in split.labels.values()))


def keep_on_devices(mode: str, split: Split, copies: int, memory_bytes: int) -> bool:
  """Whether the training examples live on the devices (`train.data_on_device`).

  Args:
    mode: 'always', 'never', or 'auto': when the split is in host memory (not read from disk
      as it goes) and its `copies` (one per local device) take at most DEVICE_SHARE of
      `memory_bytes`, the memory those devices have.
    split: the training split.
    copies: the process's devices (each holds the whole split).
    memory_bytes: the memory of those devices together (for CPU devices, the host's).
  """
  if mode not in DATA_ON_DEVICE:
    raise ValueError(f'train.data_on_device={mode!r}; choose one of {DATA_ON_DEVICE}')
  if mode != 'auto':
    return mode == 'always'
  return (isinstance(split.images, np.ndarray)
          and copies * device_bytes(split) <= DEVICE_SHARE * memory_bytes)


def resident_examples(split: Split, normalisation: Normalisation) -> dict:
  """The whole split in network units, {'images', 'labels'}, to be placed on every device."""
  return {'images': normalisation.forward(np.asarray(split.images)),
          'labels': {name: np.asarray(values) for name, values in split.labels.items()}}

"""A split of images (train or validation) and their labels, in memory or read lazily from disk."""

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Split:
  """A set of images and their labels.

  Attributes:
    images: (N, H, W, C) float32.
    labels: name -> (N, ...) array, one entry per image. Telescope data: `particletype` (N,)
      int32, `energy` (N,) float32, `direction` (N, 2) float32; other datasets have their own
      (e.g. `digit`), or none (an unlabelled image folder: {}).
  """
  images: np.ndarray
  labels: dict[str, np.ndarray]

  def __post_init__(self):
    for name, values in self.labels.items():
      if len(values) != len(self.images):
        raise ValueError(f'label {name!r} has {len(values)} entries for {len(self.images)} images')

  def __len__(self) -> int:
    return len(self.images)

  @property
  def image_shape(self) -> tuple[int, ...]:
    return tuple(self.images.shape[1:])

  def pixel_sample(self, max_pixels: int) -> np.ndarray:
    """The first `max_pixels` pixels in storage order, read from the first images only."""
    count = min(len(self), -(-max_pixels // math.prod(self.image_shape)))
    return np.asarray(self.images[:count]).reshape(-1)[:max_pixels]

  def take(self, indices: np.ndarray) -> 'Split':
    """The examples at `indices`, in that order."""
    return Split(self.images[indices], {k: v[indices] for k, v in self.labels.items()})

  def rows(self, start: int, stop: int) -> 'Split':
    """The examples [start, stop): images on disk stay there (their `rows` view), arrays slice."""
    view = getattr(self.images, 'rows', None)
    images = view(start, stop) if view else self.images[start:stop]
    return Split(images, {k: v[start:stop] for k, v in self.labels.items()})


def split_train_validation(data: Split, validation_fraction: float) -> tuple[Split, Split]:
  """First (1 - fraction) of the examples for training, the rest for validation (`Split.rows`);
  fraction 0 trains on every example, with an empty validation split."""
  num_train = int(round(len(data) * (1.0 - validation_fraction)))
  if num_train == 0 or (validation_fraction and num_train == len(data)):
    raise ValueError(f'data.validation_fraction={validation_fraction} leaves an empty split of '
                     f'{len(data)} examples')
  return data.rows(0, num_train), data.rows(num_train, len(data))

"""Small built-in datasets for pilot runs: handwritten digits and a 2-D Gaussian ring.

`digits` is scikit-learn's bundled set of 1,797 handwritten digits (`load_digits`, no download):
8x8 greyscale images with integer intensities 0..16, kept at 8x8 and scaled to [-1, 1]
(0 -> -1, 16 -> 1). A DCGAN with one stride-2 layer on each side makes 8x8 images
(`jaxgan.models.dcgan`). The set is small and fixed: the same images whatever the seed.

Two Gaussian mixtures in the plane, the standard mode-collapse benchmarks (`MIXTURES`):
`gaussian_grid`, 25 Gaussians of standard deviation 0.05 on the grid {-4, -2, 0, 2, 4}^2
(Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN), and `gaussian_ring`, 8 Gaussians of
standard deviation 0.02 evenly spaced on a circle of radius 2 (Metz et al. 2017, Unrolled GANs;
mode k at angle 2 pi k / 8). Each point comes from a mode drawn uniformly. Points are shaped
(N, 1, 1, 2), images of one pixel with two channels, so that they fit everything written for
(N, H, W, C) images (`Split`, batching, sharding); a model for points flattens them to (B, 2).
"""

from typing import NamedTuple

import numpy as np

DIGIT_LEVELS = 16  # Largest intensity of scikit-learn's digits.


class Mixture(NamedTuple):
  """Equal-weight isotropic Gaussians: (K, 2) `means`, common standard deviation `std`."""
  means: np.ndarray
  std: float


def _ring_means(num_modes: int = 8, radius: float = 2.0) -> np.ndarray:
  angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
  return radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)


def _grid_means(coordinates: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)) -> np.ndarray:
  x, y = np.meshgrid(coordinates, coordinates, indexing='ij')
  return np.stack([x.ravel(), y.ravel()], axis=-1)


MIXTURES = {'gaussian_grid': Mixture(_grid_means(), 0.05),
            'gaussian_ring': Mixture(_ring_means(), 0.02)}


def digits() -> tuple[np.ndarray, np.ndarray]:
  """scikit-learn's handwritten digits, in its order.

  Returns:
    images: (1797, 8, 8, 1) float32 in [-1, 1].
    digits: (1797,) int32, the digit 0..9 each image shows.
  """
  from sklearn import datasets  # pylint: disable=g-import-not-at-top  # Only the pilot needs it.
  bunch = datasets.load_digits()
  scaled = bunch.images.astype(np.float32) * np.float32(2.0 / DIGIT_LEVELS) - np.float32(1.0)
  return scaled[..., None], bunch.target.astype(np.int32)


def mixture_points(mixture: Mixture, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """`num` points of `mixture`, deterministic by `seed`.

  Returns:
    points: (num, 1, 1, 2) float32.
    modes: (num,) int32, the Gaussian each point was drawn from.
  """
  rng = np.random.default_rng(seed)
  modes = rng.integers(len(mixture.means), size=num)
  points = mixture.means[modes] + mixture.std * rng.standard_normal((num, 2))
  return points.astype(np.float32).reshape(num, 1, 1, 2), modes.astype(np.int32)

"""Small built-in datasets for pilot runs: handwritten digits and a 2-D Gaussian ring.

`digits` is scikit-learn's bundled set of 1,797 handwritten digits (`load_digits`, no download):
8x8 greyscale images with integer intensities 0..16, kept at 8x8 and scaled to [-1, 1]
(0 -> -1, 16 -> 1). A DCGAN with one stride-2 layer on each side makes 8x8 images
(`jaxgan.models.dcgan`). The set is small and fixed: the same images whatever the seed.

`ring_mixture` is the mode-collapse benchmark of Metz et al. 2017 (Unrolled GANs): 8 Gaussians
of standard deviation 0.02 with means evenly spaced on a circle of radius 2 (mode k at angle
2 pi k / 8), each point from a mode drawn uniformly. The points are shaped (N, 1, 1, 2), images
of one pixel with two channels, so that they fit everything written for (N, H, W, C) images
(`Split`, batching, sharding); a model for points flattens them to (B, 2).
"""

import numpy as np

DIGIT_LEVELS = 16  # Largest intensity of scikit-learn's digits.
NUM_MODES = 8
RING_RADIUS = 2.0
MODE_STD = 0.02


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


def mode_means() -> np.ndarray:
  """(NUM_MODES, 2) means of the ring's Gaussians: radius 2, mode k at angle 2 pi k / 8."""
  angles = 2.0 * np.pi * np.arange(NUM_MODES) / NUM_MODES
  return RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=-1)


def ring_mixture(num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """`num` points of the 8-Gaussian ring, deterministic by `seed`.

  Returns:
    points: (num, 1, 1, 2) float32.
    modes: (num,) int32, the Gaussian each point was drawn from.
  """
  rng = np.random.default_rng(seed)
  modes = rng.integers(NUM_MODES, size=num)
  points = mode_means()[modes] + MODE_STD * rng.standard_normal((num, 2))
  return points.astype(np.float32).reshape(num, 1, 1, 2), modes.astype(np.int32)

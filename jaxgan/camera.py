"""A telescope camera: the size of its square pixels and the tailcut cleaning of its images.

Coordinates: pixel (row i, column j) of an n x n image has its centre at x = (j - c) p,
y = (i - c) p, c = (n - 1) / 2, p the pixel size in degrees; the `direction` label (x, y) is the
source position in the same coordinates. The simulator (`jaxgan.data.toy_iact`), the HDF5 files
(`jaxgan.data.hdf5`), the Hillas parameters (`jaxgan.evaluation.hillas`) and the models
(`jaxgan.models.source_frame`) share them.

A dataset with a camera says which (`jaxgan.data.dataset.camera_of`): the simulator's from its
config, an HDF5 file's from its attributes.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class Camera(NamedTuple):
  """What cleaning and Hillas parameters need of a camera.

  Attributes:
    pixel_size_deg: side of a square pixel's field of view, degrees.
    picture: the tailcut's picture (core) level, photoelectrons.
    boundary: the tailcut's boundary level, photoelectrons (<= picture).
  """
  pixel_size_deg: float
  picture: float
  boundary: float


def _has_neighbour(mask: Array) -> Array:
  """Whether any of the 4 side neighbours of each pixel of (..., n, n) is set (zero padding)."""
  padded = jnp.pad(mask, [(0, 0)] * (mask.ndim - 2) + [(1, 1), (1, 1)])
  return (padded[..., :-2, 1:-1] | padded[..., 2:, 1:-1]
          | padded[..., 1:-1, :-2] | padded[..., 1:-1, 2:])


def tailcut_mask(image: Array, picture: float, boundary: float) -> Array:
  """Two-level tailcut cleaning of (..., n, n) images (as ctapipe's tailcuts_clean, isolated
  pixels dropped): pixels >= picture with a side neighbour >= boundary, plus pixels >= boundary
  next to a pixel >= picture. Square pixels, so the 4 side neighbours.

  Args:
    image: (..., n, n) charges, photoelectrons.
    picture, boundary: the two levels, photoelectrons (`Camera.picture`, `Camera.boundary`).

  Returns:
    (..., n, n) bool: the pixels that survive the cleaning.
  """
  above_picture, above_boundary = image >= picture, image >= boundary
  return ((above_picture & _has_neighbour(above_boundary))
          | (above_boundary & _has_neighbour(above_picture)))

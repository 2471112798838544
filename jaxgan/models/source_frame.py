"""Views of telescope images anchored at the labelled source, for the CTGAN.

A gamma-ray shower's image points back to its source: its major axis passes through the arrival
direction (the `direction` label, the source's camera position). In camera pixels that is a
relation between the image and a label, which a convolutional critic can only check through a
nonlinear mix of both. Resampled on a polar grid about the source (rows: angle about the source,
columns: distance from it), a shower that points back to the source becomes a horizontal streak
along one row, and a misaligned one a slanted or curved streak: a local orientation, what
convolutions detect. `polar_view` gives that grid; the CTGAN critic reads it with
`model.critic_view='polar'`. The other way round, `frame_to_camera` places a canvas drawn in a
shower's own frame (the source at its origin, the axis along u) on the camera at the labelled
source, turned to a given azimuth: the generator of `jaxgan.models.ctgan_frame`.

`aligned_view` goes one step further for the critic (`model.critic_view='aligned'`): the image
resampled about its own light centroid and turned so that the columns point away from the
labelled source. Every shower that points back to its source then lies along the middle row, at
the middle of the view, whatever its position and azimuth: the critic checks one orientation at
one place, instead of learning it for each of the polar view's angle rows. That view no longer
shows how far the shower lies from its source (the Hillas "disp", which grows with the impact
distance); `model.critic_view='aligned_distance'` adds it as a second channel
(`centroid_distance`), differentiable in the image, so that the critic can check it and the
generator learn from it; `model.critic_view='aligned_source'` anchors the same turned view at
the source instead of the centroid (`SOURCE_ANCHOR_BEHIND` pixels behind it), so that the
distance is where the shower lies along the view's middle row.

Coordinates (those of `jaxgan.camera`): the image is centre-padded to a square canvas;
pixel (row i, column j) of the image lies at x = (j - c) * pixel_size, y = (i - c) * pixel_size,
c = (image_size - 1) / 2, and the source (x, y) is in the units of `pixel_size` (degrees for
the toy and MAGIC-like data: 0.1-degree pixels).
"""

import jax
import jax.numpy as jnp

Array = jax.Array

POLAR_ANGLES = 96  # angle bins: 0.13-degree steps 2 degrees from the source (0.1-degree pixels)
POLAR_RADII = 48  # one-pixel radius bins: the camera's far corner from any source within 1.5 deg
# The default grid (`model.polar_grid`). A smaller one costs the critic less (its convolutions
# read every bin): 64 x 40 trains ctgan_frame 2.3x faster (docs/benchmarks.md, 2026-12-06), seeing
# light up to 40 pixels from the source.
POLAR_GRID = (POLAR_ANGLES, POLAR_RADII)
SOURCE_ANCHOR_BEHIND = 8  # 'aligned_source': view columns behind the source (0.8 deg at 0.1 deg)


def camera_centre(side: int, image_size: int) -> float:
  """Row (= column) of the camera centre on the `side`-pixel canvas the image is padded to."""
  return (side - image_size) // 2 + (image_size - 1) / 2


def source_pixel(source, pixel_size: float, centre: float):
  """(column, row) of the sources (..., 2), (x, y) in the units of `pixel_size`, on a canvas whose
  camera centre is pixel `centre` (`camera_centre`); NumPy or JAX arrays alike."""
  return source[..., 0] / pixel_size + centre, source[..., 1] / pixel_size + centre


def sample_bilinear(canvas: Array, rows: Array, cols: Array) -> Array:
  """Bilinear samples of `canvas` (B, H, W, C) at fractional pixel positions `rows`, `cols`
  (B, *grid); zero outside the canvas. Returns (B, *grid, C)."""
  batch, height, width, channels = canvas.shape
  grid = rows.shape[1:]
  row0, col0 = jnp.floor(rows), jnp.floor(cols)
  row_weight, col_weight = (rows - row0)[..., None], (cols - col0)[..., None]
  row0, col0 = row0.astype(jnp.int32), col0.astype(jnp.int32)
  flat = canvas.reshape(batch, height * width, channels)

  def at(row: Array, col: Array) -> Array:
    inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
    index = jnp.clip(row, 0, height - 1) * width + jnp.clip(col, 0, width - 1)
    values = jnp.take_along_axis(flat, index.reshape(batch, -1, 1), axis=1)
    return values.reshape(batch, *grid, channels) * inside[..., None].astype(canvas.dtype)

  top = (1 - col_weight) * at(row0, col0) + col_weight * at(row0, col0 + 1)
  bottom = (1 - col_weight) * at(row0 + 1, col0) + col_weight * at(row0 + 1, col0 + 1)
  return (1 - row_weight) * top + row_weight * bottom


def polar_view(canvas: Array, source: Array, pixel_size: float, image_size: int,
               grid: tuple[int, int] = POLAR_GRID) -> Array:
  """(B, angles, radii, C) resampling of the centre-padded camera canvas (B, S, S, C)
  about `source` (B, 2), the (x, y) camera position of the source; `grid` = (angles, radii).

  Row a holds angle 2 pi (a + 0.5) / angles from the +x axis (towards +y), column r the
  distance (r + 0.5) pixels from the source; points off the canvas read zero.
  """
  centre = camera_centre(canvas.shape[1], image_size)
  angles, radii = grid
  radius = jnp.arange(radii) + 0.5
  angle = 2 * jnp.pi * (jnp.arange(angles) + 0.5) / angles
  source_col, source_row = source_pixel(source, pixel_size, centre)
  cols = source_col[:, None, None] + jnp.cos(angle)[None, :, None] * radius[None, None, :]
  rows = source_row[:, None, None] + jnp.sin(angle)[None, :, None] * radius[None, None, :]
  return sample_bilinear(canvas, rows, cols)


FRAME_ORIGIN_COLUMN = 10  # the source's column on a shower-frame canvas (u = 0)


def frame_to_camera(frame: Array, source: Array, azimuth: Array, pixel_size: float,
                    image_size: int, side: int) -> Array:
  """(B, side, side, C) camera canvas (the image centre-padded to `side`) resampled from
  shower-frame canvases `frame` (B, V, U, C) placed at `source` (B, 2) and turned to `azimuth`
  (B, 2), unit vectors (cos, sin).

  Frame pixel (row r, column c) lies at u = c - FRAME_ORIGIN_COLUMN pixels from the source along
  the azimuth and v = r - (V - 1) / 2 pixels across it (towards +90 degrees); camera points off
  the frame read zero.
  """
  centre = camera_centre(side, image_size)
  offsets = (jnp.arange(side) - centre)[None, :] - (source / pixel_size)[:, :, None]  # (B, 2, S)
  dx, dy = offsets[:, 0, None, :], offsets[:, 1, :, None]  # (B, 1, S) columns, (B, S, 1) rows
  cos, sin = azimuth[:, 0, None, None], azimuth[:, 1, None, None]
  cols = dx * cos + dy * sin + FRAME_ORIGIN_COLUMN
  rows = dy * cos - dx * sin + (frame.shape[1] - 1) / 2
  return sample_bilinear(frame, rows, cols)


def light_centroid(canvas: Array, threshold: float) -> tuple[Array, Array]:
  """(rows, cols), each (B,), of the light centroid of channel 0 of `canvas` (B, S, S, C), each
  pixel weighted by max(value - threshold, 0); the canvas centre where no pixel exceeds it."""
  side = canvas.shape[1]
  weights = jnp.maximum(canvas[..., 0] - threshold, 0.0)
  total = jnp.sum(weights, axis=(1, 2))
  lit = total > 0
  total = jnp.where(lit, total, 1.0)
  index = jnp.arange(side, dtype=canvas.dtype)
  rows = jnp.sum(weights * index[None, :, None], axis=(1, 2)) / total
  cols = jnp.sum(weights * index[None, None, :], axis=(1, 2)) / total
  centre = (side - 1) / 2
  return jnp.where(lit, rows, centre), jnp.where(lit, cols, centre)


def aligned_view(canvas: Array, source: Array, pixel_size: float, image_size: int,
                 threshold: float, behind: float | None = None) -> Array:
  """(B, S, S, C) resampling of the centre-padded camera canvas (B, S, S, C) about each image's
  light centroid (`light_centroid` at `threshold`), turned so that the columns (+u) point from
  the labelled `source` (B, 2) to the centroid.

  View pixel (row r, column c) lies at u = c - (S - 1) / 2 pixels from the centroid along the
  source-to-centroid direction and v = r - (S - 1) / 2 across it (towards +90 degrees); points
  off the canvas read zero. A centroid on the source turns nothing. The centroid and the turn are
  constants of the view: gradients flow through the resampled values only (a bilinear map of the
  image), as the gradient penalty assumes of a critic's input. With `behind` (pixels) the view
  is anchored at the source instead, turned alike: column c lies u = c - behind pixels from the
  source, so that a shower's distance from its source is where it lies along the row.
  """
  side = canvas.shape[1]
  rows, cols = light_centroid(jax.lax.stop_gradient(canvas), threshold)
  source_col, source_row = source_pixel(source, pixel_size, camera_centre(side, image_size))
  du, dv = cols - source_col, rows - source_row
  norm = jnp.sqrt(du ** 2 + dv ** 2)
  turned = norm > 1e-3
  norm = jnp.where(turned, norm, 1.0)
  cos = jnp.where(turned, du / norm, 1.0)[:, None, None]
  sin = jnp.where(turned, dv / norm, 0.0)[:, None, None]
  if behind is not None:  # the view's centre: (S - 1) / 2 - behind pixels ahead of the source
    ahead = (side - 1) / 2 - behind
    rows, cols = source_row + ahead * sin[:, 0, 0], source_col + ahead * cos[:, 0, 0]
  offset = jnp.arange(side) - (side - 1) / 2
  u, v = offset[None, None, :], offset[None, :, None]
  return sample_bilinear(canvas, rows[:, None, None] + u * sin + v * cos,
                         cols[:, None, None] + u * cos - v * sin)


def centroid_distance(canvas: Array, source: Array, pixel_size: float, image_size: int,
                      threshold: float) -> Array:
  """(B,) distance of each image's light centroid (`light_centroid` at `threshold`) from its
  labelled `source` (B, 2), in the units of `pixel_size`; differentiable in the canvas."""
  rows, cols = light_centroid(canvas, threshold)
  source_col, source_row = source_pixel(source, pixel_size,
                                        camera_centre(canvas.shape[1], image_size))
  return pixel_size * jnp.sqrt((cols - source_col) ** 2 + (rows - source_row) ** 2 + 1e-12)

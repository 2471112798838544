"""Fixed-noise samples for the pilot datasets: image grids (DCGAN, digits) and 2-D point clouds.

Both samplers follow `sampling.GridSampler`'s interface, `write(state, step, workdir, writer,
normalisation) -> metrics`: they draw their latents once from the run's seed, so the pictures of
different steps compare directly (and `logs.save_animation` turns them into a GIF), save
`<workdir>/samples/step_<step:07d>.png`, and log the same picture to TensorBoard.

- `ImageGridSampler`: `rows` x `columns` generated images, one fixed latent per cell. When the
  generator is conditional, row r shows class r % num_classes. Pixels in [-1, 1] are shown as
  0..255 (greyscale for one channel, RGB for three), small images are enlarged by an integer
  factor, and thin blue-grey lines separate the cells. No metrics.
- `PointCloudSampler`: `num_points` generated 2-D points over the validation points, and the
  Gaussian-mixture metrics of `mixture_metrics` (Srivastava et al. 2017, VEEGAN).

Conditional generators take the one-hot vector of a class as their label input (`one_hot`).

`SAMPLERS` is the registry of samplers by the kind of a dataset's sample grid
(`jaxgan.data.dataset.SampleGrid`), the telescope grid of `jaxgan.sampling` included;
`make_sampler` builds the one a dataset asks for.
"""

import os
from typing import Any, Callable

import flax.linen as nn
import jax
import matplotlib
import numpy as np
from matplotlib import figure
from matplotlib.backends import backend_agg

from jaxgan import camera as camera_lib
from jaxgan import labels as labels_lib
from jaxgan import logs
from jaxgan import sampling
from jaxgan.data import pilots
from jaxgan.data.dataset import SampleGrid
from jaxgan.data.pipeline import Normalisation
from jaxgan.data.split import Split

GRID_LATENT_SALT = 0x6D1  # folded into the run's seed for the image grid's latents
POINT_LATENT_SALT = 0x2D0  # ... and for the point cloud's
MIN_GRID_WIDTH = 256  # pixels: smaller grids are enlarged by an integer factor
SEPARATOR_PIXELS = 2
SEPARATOR_RGB = (70, 110, 180)  # blue-grey: unlike any grey image, e.g. an untrained one's
HIGH_QUALITY_STDS = 3.0  # a generated point within 3 std of its nearest mode is high quality
MIN_POINTS_PER_MODE = 1  # VEEGAN: a mode is covered by at least one high-quality point
PLOT_INCHES, PLOT_DPI = 5.0, 100  # 500 x 500 pixel scatter plots
PLOT_MARGIN = 1.25  # the plot's half-width, as a multiple of the largest validation coordinate


def one_hot(classes: np.ndarray, num_classes: int, label_dim: int) -> np.ndarray:
  """The generator's label input for integer `classes`: (B, label_dim) float32.

  A dataset with one categorical label of K classes conditions on the one-hot vector of the class
  (label_dim == K); further inputs (InfoGAN's continuous codes) are 0; an unconditional generator
  (label_dim == 0) gets a (B, 0) array.
  """
  if label_dim == 0:
    return np.zeros((len(classes), 0), np.float32)
  if label_dim < num_classes:
    raise ValueError(f'label_dim={label_dim}: a one-hot label needs label_dim >= num_classes '
                     f'({num_classes})')
  vectors = np.zeros((len(classes), label_dim), np.float32)
  vectors[np.arange(len(classes)), classes] = 1.0
  return vectors


def _fixed_generator(generator: nn.Module, latents: jax.Array, labels: np.ndarray):
  """A jitted function of the generator's variables: its images for these latents and labels."""
  return jax.jit(lambda variables: generator.apply(variables, latents, labels, train=False))


def _path(workdir: str, step: int) -> str:
  return os.path.join(workdir, 'samples', f'step_{step:07d}.png')


def tile_images(images: np.ndarray, columns: int) -> np.ndarray:
  """Tiles (N, H, W, C) images in [-1, 1], C 1 (grey) or 3 (RGB), into one picture.

  Each image pixel becomes a square of k x k pixels, k the smallest integer that makes the grid
  at least `MIN_GRID_WIDTH` wide; cells are separated by `SEPARATOR_PIXELS` blue-grey lines.

  Returns:
    (H, W, 3) uint8 picture, row-major, -1 -> 0 and 1 -> 255.
  """
  count, height, width, channels = images.shape
  if channels not in (1, 3):
    raise ValueError(f'images with {channels} channels: expected 1 (grey) or 3 (RGB)')
  factor = max(1, -(-MIN_GRID_WIDTH // (columns * width)))
  pixels = np.clip(np.nan_to_num(np.asarray(images, np.float32)), -1.0, 1.0)
  pixels = np.round((pixels + 1.0) * 127.5).astype(np.uint8)
  pixels = np.repeat(np.repeat(pixels, factor, axis=1), factor, axis=2)
  pixels = np.broadcast_to(pixels, pixels.shape[:3] + (3,))
  rows, cell_height, cell_width = -(-count // columns), height * factor, width * factor
  step_y, step_x = cell_height + SEPARATOR_PIXELS, cell_width + SEPARATOR_PIXELS
  canvas = np.full((rows * step_y - SEPARATOR_PIXELS, columns * step_x - SEPARATOR_PIXELS, 3),
                   SEPARATOR_RGB, np.uint8)
  for index in range(count):
    row, column = divmod(index, columns)
    canvas[row * step_y:row * step_y + cell_height,
           column * step_x:column * step_x + cell_width] = pixels[index]
  return canvas


class ImageGridSampler:
  """A fixed-noise grid of generated images; see the module docstring.

  Args:
    generator: the generator module (no pmap axis), called as
      `generator.apply(variables, z, label_vector, train=False)`, returning (B, H, W, C) in [-1, 1].
    latent_dim: size of z.
    num_classes: classes of the dataset's label (0: none).
    label_dim: size of the generator's label input: 0 (unconditional) or num_classes.
    seed: seed of the fixed latents.
    rows, columns: the grid's shape; conditional row r shows class r % num_classes.
  """

  def __init__(self, generator: nn.Module, latent_dim: int, num_classes: int, label_dim: int,
               seed: int, rows: int = 8, columns: int = 8):
    self.columns = columns
    classes = np.repeat(np.arange(rows) % max(num_classes, 1), columns)
    key = jax.random.fold_in(jax.random.key(seed), GRID_LATENT_SALT)
    latents = jax.random.normal(key, (rows * columns, latent_dim))
    self._generate = _fixed_generator(generator, latents, one_hot(classes, num_classes, label_dim))

  def picture(self, state, normalisation: Normalisation) -> np.ndarray:
    """The grid as an (H, W, 3) uint8 picture."""
    images = normalisation.inverse(self._generate(state.sampling_variables))
    return tile_images(images, self.columns)

  def write(self, state, step: int, workdir: str, writer: logs.MetricWriter,
            normalisation: Normalisation) -> dict[str, float]:
    """Saves `<workdir>/samples/step_<step>.png` and logs it to TensorBoard; no metrics."""
    rgb = self.picture(state, normalisation)
    logs.save_png(_path(workdir, step), rgb)
    writer.write_image(step, 'samples', rgb)
    return {}


def mixture_metrics(points: np.ndarray, mixture: pilots.Mixture,
                    classes: np.ndarray | None = None,
                    min_count: int = MIN_POINTS_PER_MODE) -> dict[str, float]:
  """Mode-collapse metrics of generated points of a Gaussian mixture (`pilots.MIXTURES`).

  Each point is assigned to its nearest mode mean. As in VEEGAN (Srivastava et al. 2017, on the
  grid and the ring of Metz et al. 2017):
  - `high_quality_fraction`: the fraction of points within 3 standard deviations of their
    nearest mode mean. Real data scores 1 - exp(-9/2) = 0.989.
  - `modes_covered`: the number of modes that are the nearest mode of at least
    `min_count` high-quality points; VEEGAN counts a mode as captured by a single one (the
    default). PacGAN (Lin et al. 2018) asks for 20 of 2,500 samples, robust to stray points.
  - `label_accuracy` (when `classes` is given): the fraction of high-quality points whose
    nearest mode is the class they were generated for (0 when there are none).

  Args:
    points: (N, 2) generated points.
    mixture: the mixture they should follow.
    classes: (N,) conditioning class of each point, or None (unconditional).
    min_count: high-quality points a mode needs to count as covered.
  """
  distance = np.linalg.norm(points[:, None, :] - mixture.means[None], axis=-1)
  nearest = np.argmin(distance, axis=1)
  high_quality = np.min(distance, axis=1) <= HIGH_QUALITY_STDS * mixture.std
  counts = np.bincount(nearest[high_quality], minlength=len(mixture.means))
  metrics = {'high_quality_fraction': float(high_quality.mean()),
             'modes_covered': int(np.sum(counts >= min_count))}
  if classes is not None:
    correct = nearest[high_quality] == np.asarray(classes)[high_quality]
    metrics['label_accuracy'] = float(correct.mean()) if correct.size else 0.0
  return metrics


class PointCloudSampler:
  """Scatter plots of fixed-noise generated 2-D points and their mixture metrics.

  Args:
    generator: the generator module (no pmap axis), returning (B, 1, 1, 2) or (B, 2) points.
    latent_dim: size of z.
    num_classes: classes of the dataset's label (the mixture's modes; 0: none).
    label_dim: size of the generator's label input: 0 (unconditional) or num_classes.
    validation: the validation split, points shaped (N, 1, 1, 2), drawn in grey; its extent sets
      the plot's fixed limits.
    seed: seed of the fixed latents.
    mixture: the Gaussian mixture of the data, for the metrics.
    num_points: generated points per plot; conditional ones cycle through the classes.
  """

  def __init__(self, generator: nn.Module, latent_dim: int, num_classes: int, label_dim: int,
               validation: Split, seed: int, mixture: pilots.Mixture, num_points: int = 2500):
    if validation.image_shape != (1, 1, 2):
      raise ValueError(f'PointCloudSampler needs 2-D points shaped (N, 1, 1, 2), got '
                       f'{validation.image_shape}')
    self.real = np.asarray(validation.images, np.float32).reshape(-1, 2)
    self.limit = PLOT_MARGIN * float(np.abs(self.real).max())
    classes = np.arange(num_points) % max(num_classes, 1)
    self.classes = classes if label_dim else None
    self.mixture = mixture
    key = jax.random.fold_in(jax.random.key(seed), POINT_LATENT_SALT)
    latents = jax.random.normal(key, (num_points, latent_dim))
    self._generate = _fixed_generator(generator, latents, one_hot(classes, num_classes, label_dim))

  def points(self, state, normalisation: Normalisation) -> np.ndarray:
    """The generated points, (num_points, 2)."""
    generated = normalisation.inverse(self._generate(state.sampling_variables))
    return generated.reshape(len(generated), 2)

  def write(self, state, step: int, workdir: str, writer: logs.MetricWriter,
            normalisation: Normalisation) -> dict[str, float]:
    """Saves `<workdir>/samples/step_<step>.png`, logs it and the mixture metrics; returns those."""
    points = self.points(state, normalisation)
    # PacGAN's criterion (20 of 2,500 points), so that a few stray points do not cover a mode.
    metrics = mixture_metrics(points, self.mixture, self.classes,
                              min_count=max(1, len(points) * 20 // 2500))
    rgb = self.plot(points, step, metrics)
    logs.save_png(_path(workdir, step), rgb)
    writer.write_image(step, 'samples', rgb)
    writer.write_scalars(step, metrics)
    return metrics

  def plot(self, points: np.ndarray, step: int, metrics: dict[str, float]) -> np.ndarray:
    """Generated points (coloured by class when conditional) over the validation points (grey),
    with fixed square limits, the legend in the ring's empty centre; an (H, W, 3) uint8 picture.

    Drawn on a bare Agg canvas, without pyplot: no global figure to close, no backend to pick.
    """
    fig = figure.Figure(figsize=(PLOT_INCHES, PLOT_INCHES), dpi=PLOT_DPI)
    canvas = backend_agg.FigureCanvasAgg(fig)
    axes = fig.add_subplot()
    axes.scatter(*self.real.T, s=4, c='0.75', linewidths=0, label='validation')
    colours = 'tab:blue' if self.classes is None else matplotlib.colormaps['tab10'](self.classes)
    axes.scatter(*points.T, s=4, c=colours, linewidths=0, label='generated')
    axes.set(xlim=(-self.limit, self.limit), ylim=(-self.limit, self.limit), aspect='equal')
    axes.set_title(f'step {step}: {metrics["modes_covered"]} modes, '
                   f'{metrics["high_quality_fraction"]:.0%} high quality')
    axes.legend(loc='center', fontsize='small', markerscale=3)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _telescope_sampler(grid: SampleGrid, generator: nn.Module, latent_dim: int,
                       spec: labels_lib.LabelSpec, train: Split, validation: Split, seed: int,
                       camera: camera_lib.Camera | None) -> sampling.GridSampler:
  del grid
  if camera is None:
    raise ValueError('the telescope sample grid needs the data\'s camera; the dataset has none')
  return sampling.GridSampler(generator, latent_dim, labels_lib.vector_size(spec), train,
                              validation, seed=seed, camera=camera)


def _first_classes(spec: labels_lib.LabelSpec) -> int:
  """The classes of the first label (or InfoGAN code), which picks the rows; other inputs stay
  0; 0 when the generator is unconditional."""
  return spec[0].num_classes if spec else 0


def _image_sampler(grid: SampleGrid, generator: nn.Module, latent_dim: int,
                   spec: labels_lib.LabelSpec, train: Split, validation: Split, seed: int,
                   camera: camera_lib.Camera | None) -> ImageGridSampler:
  """One row per class when conditional (row r shows class r mod num_classes), else 8 rows."""
  del grid, train, validation, camera
  label_dim = labels_lib.vector_size(spec)
  num_classes = _first_classes(spec)
  return ImageGridSampler(generator, latent_dim, num_classes, label_dim, seed,
                          rows=num_classes if label_dim else 8)


def _point_sampler(grid: SampleGrid, generator: nn.Module, latent_dim: int,
                   spec: labels_lib.LabelSpec, train: Split, validation: Split, seed: int,
                   camera: camera_lib.Camera | None) -> PointCloudSampler:
  del train, camera
  return PointCloudSampler(generator, latent_dim, _first_classes(spec),
                           labels_lib.vector_size(spec), validation, seed, grid.mixture)


SAMPLERS: dict[str, Callable[..., Any]] = {
    'telescope': _telescope_sampler,
    'images': _image_sampler,
    'points': _point_sampler,
}


def make_sampler(grid: SampleGrid, generator: nn.Module, latent_dim: int,
                 spec: labels_lib.LabelSpec, train: Split, validation: Split, seed: int,
                 camera: camera_lib.Camera | None = None) -> Any:
  """The fixed-noise sampler of a dataset's sample grid; it has `write(state, step, workdir,
  writer, normalisation) -> metrics`.

  Args:
    grid: the dataset's `SampleGrid` (its kind picks the sampler in `SAMPLERS`).
    generator: the generator module (no pmap axis).
    latent_dim: size of z.
    spec: what the generator is conditioned on (`conditioning.Conditioning.generator_spec`).
    train, validation: the splits.
    seed: the run's seed, of the fixed latents.
    camera: the data's camera (the telescope grid's cleaning), None where it has none.

  Returns:
    A `sampling.GridSampler`, `ImageGridSampler` or `PointCloudSampler`.
  """
  if grid.kind not in SAMPLERS:
    raise ValueError(f'sample grid {grid.kind!r} is unknown; choose one of {sorted(SAMPLERS)}')
  return SAMPLERS[grid.kind](grid, generator, latent_dim, spec, train, validation, seed, camera)

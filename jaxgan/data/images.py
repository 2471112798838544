"""RGB images for the DCGAN (SPEC part A): a folder of pictures, or crops of built-in photographs.

`load_folder` reads every file under a folder (recursively, in sorted path order) with Pillow,
whatever its format or size, and applies the source's preprocessing: files that are unreadable,
truncated (but with 'torchvision' below), not images, or decompression-bomb sized are skipped
with one warning each (and a count in a summary line); the rest are turned into RGB, the short
side is resized to the target size and the centre square kept, and pixels are scaled to float32
in [-1, 1] for a tanh generator (for 8-bit pixels exactly torchvision's ToTensor then
Normalize((0.5,) * 3, (0.5,) * 3)).

Two ways to read a file (`data.images.preprocessing`):
- 'lanczos': EXIF orientation is applied, transparent pixels are composited over white, 16-bit
  greyscale is scaled down to 8 bits (Pillow's own conversion would clip it), and every other
  mode (greyscale, palette, CMYK, ...) goes through Pillow's `convert('RGB')`. The centre square
  (fractional offsets) is resized in one step with Lanczos and Pillow's `reducing_gap` (JPEG DCT
  scaling, then integer box reduction down to 3x the target, then Lanczos), which is close to an
  exact Lanczos resize at a fraction of the cost on large files.
- 'torchvision': the DCGAN notebook's reading, torchvision 0.2.1's `ImageFolder` loader and
  `Resize(size)`, `CenterCrop(size)` on Pillow 5.4.1 (`torchvision_resize_crop`): Pillow's
  `convert('RGB')` of the full decode (no EXIF rotation; alpha dropped), truncated files loaded as
  far as they go (the notebook's `ImageFile.LOAD_TRUNCATED_IMAGES = True`), then bilinear resize
  and crop. Not reproduced: `ImageFolder` reads only files with an image extension in class
  subfolders, where jaxgan reads every file under the folder (the same files for the notebook's
  folder of .jpg paintings).

With no folder (`data.path == ''`), `builtin_crops` cuts random squares from photographs that ship
inside the scikit-image wheel, so the DCGAN runs with no download.
"""

import contextlib
import os
import pathlib
import warnings

from absl import logging
import ml_collections
import numpy as np
from PIL import Image
from PIL import ImageFile
from PIL import ImageOps

_RESAMPLE = Image.Resampling.LANCZOS
# Reductions by integer steps until the image is this many times the target; >= 3 is visually the
# same as a full Lanczos resize (Pillow's documentation of `Image.resize`).
_REDUCING_GAP = 3.0
_WHITE = (255, 255, 255, 255)
DEFAULT_IMAGE_SIZE = 64  # Side of the square RGB images when data.image_size is not set.
PREPROCESSING = ('lanczos', 'torchvision')  # `data.images.preprocessing`


def default_config() -> ml_collections.ConfigDict:
  """How pictures are read and resized, and the built-in photographs and random crops used when
  `data.path` is ''."""
  c = ml_collections.ConfigDict()
  # Reading and resizing (module docstring): 'lanczos' (EXIF orientation, alpha over white, one
  # Lanczos resize of the centre square) or 'torchvision' (the DCGAN notebook's: Pillow's
  # BILINEAR, antialiased, to short side 64, then the centre crop); the built-in crops resize
  # their square with the same filter.
  c.preprocessing = 'lanczos'

  # Colour photographs bundled in scikit-image (skimage.data names that need no download).
  c.builtin_images = ('astronaut', 'chelsea', 'coffee', 'rocket', 'immunohistochemistry',
                      'hubble_deep_field', 'retina')
  c.min_crop_fraction = 0.25  # Built-in crops: side uniform in [this, 1] x the short side.
  c.flip = True  # Built-in crops: mirror half of them left-right.
  return c


def to_unit_range(uint8_images: np.ndarray) -> np.ndarray:
  """Pixels 0..255 -> float32 in [-1, 1] (0 -> -1, 255 -> 1)."""
  return np.asarray(uint8_images).astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def to_uint8(float_images: np.ndarray) -> np.ndarray:
  """Float pixels in [-1, 1] -> uint8 0..255, rounded and clipped; inverts `to_unit_range`."""
  scaled = (np.asarray(float_images, np.float32) + np.float32(1.0)) * np.float32(127.5)
  return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
  """An RGB copy of `image`: 16-bit scaled to 8-bit, transparency composited over white."""
  if image.mode == 'I' or image.mode.startswith('I;16'):
    eight_bit = np.clip(np.rint(np.asarray(image) / 257.0), 0, 255).astype(np.uint8)
    return Image.fromarray(eight_bit).convert('RGB')
  if image.has_transparency_data:
    rgba = image.convert('RGBA')
    return Image.alpha_composite(Image.new('RGBA', rgba.size, _WHITE), rgba).convert('RGB')
  return image.convert('RGB')


def _resize_centre_crop(image: Image.Image, size: int) -> np.ndarray:
  """The centre square of `image`, resized to (size, size): short side to `size`, then crop."""
  width, height = image.size
  side = min(width, height)
  left, top = (width - side) / 2, (height - side) / 2
  box = (left, top, left + side, top + side)
  return np.asarray(image.resize((size, size), _RESAMPLE, box=box, reducing_gap=_REDUCING_GAP))


def _check_preprocessing(preprocessing: str) -> None:
  if preprocessing not in PREPROCESSING:
    raise ValueError(f'data.images.preprocessing={preprocessing!r}; choose one of {PREPROCESSING}')


def torchvision_resize_crop(image: Image.Image, size: int) -> Image.Image:
  """torchvision 0.2.1's `Resize(size)` then `CenterCrop(size)` of an RGB image, on Pillow 5.4.1.

  Resize: the short side to `size` and the long side to int(size * long / short) (truncated),
  with Pillow's BILINEAR, a triangle filter whose support widens with the reduction factor (so
  shrinking is antialiased); an image whose short side already is `size` is kept. The
  horizontal pass runs first, as in Pillow 5.4.1; later Pillows run the vertical one first where
  the height shrinks more than twice as much as the width, which rounds differently, hence the
  two calls. CenterCrop: the square at offsets round((h - size) / 2), round((w - size) / 2),
  Python 3's round (half to even).
  """
  width, height = image.size
  if min(width, height) != size:
    if width < height:
      new_width, new_height = size, int(size * height / width)
    else:
      new_width, new_height = int(size * width / height), size
    bilinear = Image.Resampling.BILINEAR
    image = image.resize((new_width, height), bilinear).resize((new_width, new_height), bilinear)
  width, height = image.size
  top, left = int(round((height - size) / 2.)), int(round((width - size) / 2.))
  return image.crop((left, top, left + size, top + size))


@contextlib.contextmanager
def _truncated_files_loaded():
  """While it lasts, Pillow loads truncated files as far as their data goes, as the notebook's
  `ImageFile.LOAD_TRUNCATED_IMAGES = True` (a Pillow global: files are read one at a time)."""
  previous, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, True
  try:
    yield
  finally:
    ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _read_image(path: pathlib.Path, size: int, preprocessing: str = 'lanczos') -> np.ndarray:
  """One file preprocessed to (size, size, 3) uint8 (`data.images.preprocessing`); raises
  whatever reading it raises."""
  torchvision = preprocessing == 'torchvision'
  with warnings.catch_warnings(), (_truncated_files_loaded() if torchvision
                                   else contextlib.nullcontext()):
    warnings.simplefilter('error', Image.DecompressionBombWarning)
    with Image.open(path) as image:
      if torchvision:
        return np.asarray(torchvision_resize_crop(image.convert('RGB'), size))
      draft_size = int(size * _REDUCING_GAP)
      image.draft(None, (draft_size, draft_size))  # JPEG: decode at a reduced scale; else no-op.
      image.load()
      rgb = _to_rgb(ImageOps.exif_transpose(image))
  return _resize_centre_crop(rgb, size)


def load_folder(folder: str, image_size: int, preprocessing: str = 'lanczos') -> np.ndarray:
  """Every readable image under `folder` (recursively, sorted by path), preprocessed.

  Args:
    folder: directory of images in any format Pillow reads; other files are skipped with a warning.
    image_size: side of the output squares.
    preprocessing: how each is read and resized, one of `PREPROCESSING` (module docstring).

  Returns:
    (N, image_size, image_size, 3) float32 in [-1, 1].

  Raises:
    ValueError: `folder` is not a directory, or holds no readable image.
  """
  _check_preprocessing(preprocessing)
  if not os.path.isdir(folder):
    raise ValueError(f'image folder {folder!r} does not exist or is not a directory')
  paths = sorted(p for p in pathlib.Path(folder).rglob('*') if p.is_file())
  images = []
  for path in paths:
    try:
      images.append(_read_image(path, image_size, preprocessing))
    except Exception as e:  # pylint: disable=broad-except  # Pillow's decoders raise many types.
      logging.warning('Skipping %s: %s: %s', path, type(e).__name__, e)
  num_skipped = len(paths) - len(images)
  logging.info('Loaded %d images (%dx%d) from %s; skipped %d unreadable files.', len(images),
               image_size, image_size, folder, num_skipped)
  if not images:
    raise ValueError(f'image folder {folder!r} holds no readable image ({num_skipped} files '
                     'skipped)')
  return to_unit_range(np.stack(images))


def _builtin_image(name: str) -> Image.Image:
  """The scikit-image sample `name` as an RGB image."""
  import skimage.data  # pylint: disable=g-import-not-at-top  # Only needed without a folder.
  if not hasattr(skimage.data, name):
    raise ValueError(f'data.images.builtin_images: skimage.data has no image {name!r}')
  return _to_rgb(Image.fromarray(getattr(skimage.data, name)()))


def _random_crop(image: Image.Image, size: int, rng: np.random.Generator,
                 config: ml_collections.ConfigDict) -> np.ndarray:
  """A square of random position and side, resized to (size, size, 3) uint8, maybe mirrored."""
  width, height = image.size
  side = rng.uniform(config.min_crop_fraction, 1.0) * min(width, height)
  left, top = rng.uniform(0.0, width - side), rng.uniform(0.0, height - side)
  box = (left, top, left + side, top + side)
  if config.preprocessing == 'torchvision':
    crop = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
  else:
    crop = image.resize((size, size), _RESAMPLE, box=box, reducing_gap=_REDUCING_GAP)
  if config.flip and rng.random() < 0.5:
    crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
  return np.asarray(crop)


def builtin_crops(num: int, image_size: int, seed: int,
                  config: ml_collections.ConfigDict) -> np.ndarray:
  """Random square crops of the built-in photographs, deterministic by `seed`.

  Crop n draws its photograph, side, position and flip from its own generator (seed, n), so it is
  the same whatever `num` is.

  Args:
    num: number of crops.
    image_size: side of the output squares.
    seed: seed of the random crops.
    config: `default_config()` fields: builtin_images, min_crop_fraction, flip, preprocessing
      (which filter resizes the crops).

  Returns:
    (num, image_size, image_size, 3) float32 in [-1, 1].
  """
  _check_preprocessing(config.preprocessing)
  if num < 1 or not 0.0 < config.min_crop_fraction <= 1.0:
    raise ValueError(f'need num >= 1 and 0 < min_crop_fraction <= 1, got {num} and '
                     f'{config.min_crop_fraction}')
  sources = [_builtin_image(name) for name in config.builtin_images]
  crops = []
  for n in range(num):
    rng = np.random.default_rng((seed, n))
    crops.append(_random_crop(sources[rng.integers(len(sources))], image_size, rng, config))
  return to_unit_range(np.stack(crops))


def load_images(data_config: ml_collections.ConfigDict) -> np.ndarray:
  """The DCGAN's images: the folder `data_config.path`, or built-in crops when it is ''.

  Args:
    data_config: the `data` config: path, num_examples (built-in crops), seed, image_size
      (default `DEFAULT_IMAGE_SIZE`) and images (`default_config()` when absent).

  Returns:
    (N, S, S, 3) float32 in [-1, 1], S = data_config.image_size.
  """
  size = data_config.get('image_size', DEFAULT_IMAGE_SIZE)
  config = data_config.get('images', default_config())
  if not data_config.path:
    return builtin_crops(data_config.num_examples, size, data_config.seed, config)
  return load_folder(data_config.path, size, config.preprocessing)

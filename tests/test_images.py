"""Tests of the DCGAN image loading: folder preprocessing, skipped files, built-in crops, and the
DCGAN notebook's reading (torchvision 0.2.1 on Pillow 5.4.1)."""

import logging
import pathlib

import ml_collections
import numpy as np
from PIL import Image
from PIL import ImageFile
import pytest

from jaxgan.data import dataset
from jaxgan.data import images

SIZE = 64
RED, GREEN, BLUE, YELLOW, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255,) * 3


def _solid(colour, width: int = 80, height: int = 80, mode: str = 'RGB') -> Image.Image:
  return Image.new(mode, (width, height), colour)


def _expected(rgb) -> np.ndarray:
  return images.to_unit_range(np.asarray(rgb, np.uint8))


def _truncated_jpeg(path: pathlib.Path) -> None:
  noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
  Image.fromarray(noise).save(path, quality=95)
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _warnings(caplog) -> list[str]:
  return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.fixture
def mixed_folder(tmp_path: pathlib.Path) -> pathlib.Path:
  """Five good images, each its own colour (sorted: a, b, c_nested, d, e), and four bad files."""
  _solid(RED).save(tmp_path / 'a_good.png')
  _solid(GREEN, 120, 72).save(tmp_path / 'b_photo.jpg', quality=95)
  (tmp_path / 'c_nested' / 'deeper').mkdir(parents=True)
  _solid(YELLOW, 70, 90).save(tmp_path / 'c_nested' / 'deeper' / 'inner.png')
  _solid(128, mode='L').save(tmp_path / 'd_grey.png')
  rgba = np.zeros((80, 80, 4), np.uint8)
  rgba[:, :40] = (0, 0, 255, 255)  # opaque blue on the left
  rgba[:, 40:] = (255, 0, 0, 0)  # fully transparent "red" on the right
  Image.fromarray(rgba).save(tmp_path / 'e_rgba.png')
  _truncated_jpeg(tmp_path / 'f_truncated.jpg')
  (tmp_path / 'g_text.jpg').write_text('not an image at all\n')
  (tmp_path / 'h_empty.png').write_bytes(b'')
  (tmp_path / 'i_notes.txt').write_text('readme')
  return tmp_path


def test_load_folder_keeps_exactly_the_good_images_in_sorted_order(mixed_folder, caplog):
  caplog.set_level(logging.INFO, logger='absl')
  loaded = images.load_folder(str(mixed_folder), SIZE)
  assert loaded.shape == (5, SIZE, SIZE, 3) and loaded.dtype == np.float32
  assert loaded.min() >= -1.0 and loaded.max() <= 1.0
  np.testing.assert_allclose(loaded[0], np.broadcast_to(_expected(RED), (SIZE, SIZE, 3)), atol=0.01)
  np.testing.assert_allclose(loaded[1], np.broadcast_to(_expected(GREEN), (SIZE, SIZE, 3)),
                             atol=0.05)  # JPEG is lossy
  np.testing.assert_allclose(loaded[2], np.broadcast_to(_expected(YELLOW), (SIZE, SIZE, 3)),
                             atol=0.01)
  np.testing.assert_allclose(loaded[3], np.broadcast_to(_expected((128,) * 3), (SIZE, SIZE, 3)),
                             atol=0.01)
  # RGBA: transparent pixels become white, not the hidden red; away from the blurred edge.
  np.testing.assert_allclose(loaded[4, :, :28], np.broadcast_to(_expected(BLUE), (SIZE, 28, 3)),
                             atol=0.01)
  np.testing.assert_allclose(loaded[4, :, 36:], np.broadcast_to(_expected(WHITE), (SIZE, 28, 3)),
                             atol=0.01)

  messages = _warnings(caplog)
  bad = ('f_truncated.jpg', 'g_text.jpg', 'h_empty.png', 'i_notes.txt')
  assert len(messages) == len(bad)
  for name in bad:
    assert sum(name in m for m in messages) == 1, (name, messages)
  assert any('skipped 4 ' in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


@pytest.mark.parametrize('portrait', [False, True])
def test_short_side_resize_then_centre_crop(tmp_path, portrait):
  # 640x256: the centre 256x256 square lies inside a blue band (columns 160..480) that is wider
  # by more than the Lanczos support; outside the band the picture is red. A squashed resize or
  # an off-centre crop would bring red into the output.
  picture = np.zeros((256, 640, 3), np.uint8)
  picture[:] = RED
  picture[:, 160:480] = BLUE
  if portrait:
    picture = picture.transpose(1, 0, 2)
  Image.fromarray(picture).save(tmp_path / 'wide.png')
  loaded = images.load_folder(str(tmp_path), SIZE)
  np.testing.assert_allclose(loaded[0], np.broadcast_to(_expected(BLUE), (SIZE, SIZE, 3)),
                             atol=0.01)


def test_centre_crop_geometry_follows_the_short_side(tmp_path):
  # A horizontal ramp (value = column // 2) over 512 columns, 128 rows: the short side shrinks by
  # 2, and the centre square spans columns 192..320, so output column j holds 96 + j.
  ramp = np.broadcast_to(np.arange(512) // 2, (128, 512)).astype(np.uint8)
  Image.fromarray(ramp).save(tmp_path / 'ramp.png')
  loaded = images.to_uint8(images.load_folder(str(tmp_path), SIZE))[0, :, :, 0]
  np.testing.assert_allclose(loaded[:, 2:-2], np.broadcast_to(96 + np.arange(2, SIZE - 2),
                                                               (SIZE, SIZE - 4)), atol=1.0)


def test_other_pixel_modes_convert_to_the_right_colour(tmp_path):
  Image.fromarray(np.full((70, 70), 32896, np.uint16)).save(tmp_path / 'a_16bit.png')  # 128 * 257
  palette = _solid(0, mode='P')
  palette.putpalette([0, 255, 0] + [0] * 765)
  palette.save(tmp_path / 'b_palette.png')
  _solid((255, 0, 0, 0), mode='CMYK').save(tmp_path / 'c_cmyk.jpg', quality=95)  # cyan
  _solid(1, mode='1').save(tmp_path / 'd_bilevel.png')
  loaded = images.load_folder(str(tmp_path), SIZE)
  expected = [(128,) * 3, GREEN, (0, 255, 255), WHITE]
  assert loaded.shape == (len(expected), SIZE, SIZE, 3)
  for got, rgb in zip(loaded, expected):
    np.testing.assert_allclose(got, np.broadcast_to(_expected(rgb), got.shape), atol=0.03)


def test_decompression_bombs_are_skipped(tmp_path, monkeypatch, caplog):
  monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 64 * 64)
  caplog.set_level(logging.WARNING, logger='absl')
  _solid(RED, 32, 32).save(tmp_path / 'a_small.png')
  _solid(GREEN, 80, 80).save(tmp_path / 'b_warning_size.png')  # > MAX: Pillow warns
  _solid(BLUE, 100, 100).save(tmp_path / 'c_error_size.png')  # > 2 MAX: Pillow raises
  loaded = images.load_folder(str(tmp_path), SIZE)
  assert loaded.shape == (1, SIZE, SIZE, 3)
  np.testing.assert_allclose(loaded[0], np.broadcast_to(_expected(RED), (SIZE, SIZE, 3)), atol=0.01)
  messages = _warnings(caplog)
  assert len(messages) == 2
  assert 'b_warning_size.png' in messages[0] and 'DecompressionBombWarning' in messages[0]
  assert 'c_error_size.png' in messages[1] and 'DecompressionBombError' in messages[1]


def test_missing_or_imageless_folder_raises_naming_it(tmp_path):
  missing = str(tmp_path / 'nowhere')
  with pytest.raises(ValueError, match='nowhere'):
    images.load_folder(missing, SIZE)
  empty = tmp_path / 'only_text'
  empty.mkdir()
  (empty / 'readme.txt').write_text('no images here')
  with pytest.raises(ValueError, match='only_text'):
    images.load_folder(str(empty), SIZE)


def test_builtin_crops_shape_range_and_determinism():
  config = images.default_config()
  crops = images.builtin_crops(6, 32, 0, config)
  assert crops.shape == (6, 32, 32, 3) and crops.dtype == np.float32
  assert crops.min() >= -1.0 and crops.max() <= 1.0
  assert len({c.tobytes() for c in crops}) == 6
  np.testing.assert_array_equal(crops, images.builtin_crops(6, 32, 0, config))
  np.testing.assert_array_equal(crops[:4], images.builtin_crops(4, 32, 0, config))
  assert not np.array_equal(crops, images.builtin_crops(6, 32, 1, config))


def test_builtin_crops_full_frame_and_flip():
  # Whole-frame crops of one square photograph: every crop is that photograph or its mirror.
  config = images.default_config()
  config.builtin_images = ('astronaut',)
  config.min_crop_fraction = 1.0
  config.flip = False
  plain = images.builtin_crops(1, 32, 0, config)[0]
  config.flip = True
  crops = images.builtin_crops(8, 32, 0, config)
  is_plain = [np.array_equal(c, plain) for c in crops]
  is_mirror = [np.array_equal(c, plain[:, ::-1]) for c in crops]
  assert all(p != m for p, m in zip(is_plain, is_mirror))
  assert any(is_plain) and any(is_mirror)


def test_load_images_dispatches_on_path(tmp_path):
  data_config = ml_collections.ConfigDict(
      {'path': '', 'num_examples': 3, 'seed': 5, 'image_size': 16,
       'images': images.default_config()})
  data_config.images.flip = False
  np.testing.assert_array_equal(images.load_images(data_config),
                                images.builtin_crops(3, 16, 5, data_config.images))
  _solid(RED).save(tmp_path / 'one.png')
  data_config.path = str(tmp_path)
  assert images.load_images(data_config).shape == (1, 16, 16, 3)


def test_load_images_defaults():
  """Without data.image_size and data.images: 64x64 crops with `default_config()`."""
  data_config = ml_collections.ConfigDict({'path': '', 'num_examples': 2, 'seed': 5})
  np.testing.assert_array_equal(images.load_images(data_config),
                                images.builtin_crops(2, 64, 5, images.default_config()))


@pytest.mark.fast
def test_uint8_round_trip_is_exact():
  values = np.arange(256, dtype=np.uint8)
  unit = images.to_unit_range(values)
  assert unit.dtype == np.float32 and unit[0] == -1.0 and unit[-1] == 1.0
  np.testing.assert_array_equal(images.to_uint8(unit), values)
  np.testing.assert_array_equal(images.to_uint8(np.array([-1.5, 1.5], np.float32)), [0, 255])


def _pillow_5_4_1_bilinear(pixels: np.ndarray, out_size: int, axis: int) -> np.ndarray:
  """Pillow 5.4.1's 8-bit BILINEAR resampling of uint8 `pixels` along `axis`, ported from its
  libImaging/Resample.c: `precompute_coeffs` (a triangle filter of support 1 x the reduction
  factor, taps rounded to pixels, weights normalised by their running sum),
  `normalize_coeffs_8bpc` (22-bit fixed point) and the passes' rounding (+2^21, >> 22, clip)."""
  in_size = pixels.shape[axis]
  scale = in_size / out_size
  filterscale = max(scale, 1.0)
  moved = np.moveaxis(pixels.astype(np.int64), axis, 0)
  rows = []
  for out in range(out_size):
    center = (out + 0.5) * scale
    first = max(int(center - filterscale + 0.5), 0)
    stop = min(int(center + filterscale + 0.5), in_size)
    weights = [max(0.0, 1.0 - abs((tap - center + 0.5) * (1.0 / filterscale)))
               for tap in range(first, stop)]
    total = 0.0
    for weight in weights:
      total += weight
    fixed = np.array([int(0.5 + weight / total * (1 << 22)) for weight in weights], np.int64)
    rows.append(np.clip(((1 << 21) + np.tensordot(fixed, moved[first:stop], axes=1)) >> 22,
                        0, 255))
  return np.moveaxis(np.stack(rows), 0, axis).astype(np.uint8)


@pytest.mark.parametrize('width, height, resized, top, left', [
    (150, 97, (98, 64), 0, 17),  # int(64 * 150 / 97) = int(98.97) = 98
    (100, 300, (64, 192), 64, 0),  # later Pillows would resize vertically first here
    (130, 128, (65, 64), 0, 0),  # round(0.5) = 0, half to even
    (134, 128, (67, 64), 0, 2),  # round(1.5) = 2
    (64, 90, (64, 90), 13, 0),  # short side already 64: no resize
])
def test_torchvision_reading_is_pillow_5_4_1_bilinear_then_centre_crop(tmp_path, width, height,
                                                                        resized, top, left):
  """Resize(64) then CenterCrop(64) of torchvision 0.2.1 on Pillow 5.4.1, pixel for pixel:
  the short side to 64, the long side truncated, bilinear (horizontal pass first), then the
  square at rounded offsets."""
  noise = np.random.default_rng(width + height).integers(0, 256, (height, width, 3), np.uint8)
  Image.fromarray(noise).save(tmp_path / 'noise.png')
  expected = noise
  if resized != (width, height):
    expected = _pillow_5_4_1_bilinear(_pillow_5_4_1_bilinear(noise, resized[0], axis=1),
                                      resized[1], axis=0)
  expected = expected[top:top + SIZE, left:left + SIZE]
  loaded = images.load_folder(str(tmp_path), SIZE, 'torchvision')
  np.testing.assert_array_equal(images.to_uint8(loaded[0]), expected, strict=True)


def test_torchvision_reading_keeps_truncated_files_alpha_and_orientation(mixed_folder, caplog):
  """The notebook loads truncated files (LOAD_TRUNCATED_IMAGES), drops alpha (the hidden red
  shows) and ignores the EXIF orientation (a landscape tagged 'rotate 90' stays landscape)."""
  caplog.set_level(logging.WARNING, logger='absl')
  exif = Image.Exif()
  exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
  wide = np.zeros((64, 128, 3), np.uint8)
  wide[:, :64] = BLUE  # left half blue: the centre crop straddles blue and red ...
  wide[:, 64:] = RED  # ... and rotated, it would be one colour per half, top and bottom
  Image.fromarray(wide).save(mixed_folder / 'j_rotated.jpg', exif=exif, quality=95)
  loaded = images.to_uint8(images.load_folder(str(mixed_folder), SIZE, 'torchvision'))
  assert len(loaded) == 7  # the 5 good images, the truncated JPEG and the rotated one
  assert ImageFile.LOAD_TRUNCATED_IMAGES is False
  np.testing.assert_allclose(loaded[4][:, 36:], np.broadcast_to(RED, (SIZE, 28, 3)), atol=1)
  rotated = loaded[6].astype(int)
  np.testing.assert_allclose(rotated[:, :28], np.broadcast_to(BLUE, (SIZE, 28, 3)), atol=8)
  np.testing.assert_allclose(rotated[:, 36:], np.broadcast_to(RED, (SIZE, 28, 3)), atol=8)
  assert sum('f_truncated.jpg' in m for m in _warnings(caplog)) == 0


def test_torchvision_builtin_crops_resize_bilinearly():
  """A whole-frame crop of the square 512x512 astronaut is its bilinear resize to 32x32."""
  config = images.default_config()
  config.update(builtin_images=('astronaut',), min_crop_fraction=1.0, flip=False,
                preprocessing='torchvision')
  import skimage.data  # pylint: disable=g-import-not-at-top
  photo = skimage.data.astronaut()
  expected = _pillow_5_4_1_bilinear(_pillow_5_4_1_bilinear(photo, 32, axis=1), 32, axis=0)
  np.testing.assert_array_equal(images.to_uint8(images.builtin_crops(1, 32, 0, config)[0]),
                                expected, strict=True)


def test_unknown_preprocessing_names_the_choices(tmp_path):
  config = images.default_config()
  config.preprocessing = 'bicubic'
  with pytest.raises(ValueError, match="'bicubic'.*'lanczos', 'torchvision'"):
    images.builtin_crops(1, 16, 0, config)
  with pytest.raises(ValueError, match="'bicubic'"):
    images.load_folder(str(tmp_path), SIZE, 'bicubic')


def test_validation_fraction_zero_trains_on_every_picture():
  data_config = ml_collections.ConfigDict(
      {'name': 'image_folder', 'path': '', 'num_examples': 6, 'seed': 0, 'image_size': 8,
       'validation_fraction': 0.0, 'images': images.default_config()})
  train, validation = dataset.load_splits(data_config)
  assert (len(train), len(validation)) == (6, 0)
  assert validation.image_shape == (8, 8, 3)
  data_config.validation_fraction = 0.01  # rounds to no validation example: refused
  with pytest.raises(ValueError, match='leaves an empty split of 6 examples'):
    dataset.load_splits(data_config)

"""Tests of the DCGAN image loading: folder preprocessing, skipped files, built-in crops."""

import logging
import pathlib

import ml_collections
import numpy as np
from PIL import Image
import pytest

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

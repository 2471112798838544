"""The source's event selection: intensity and leakage of the cleaned image against ctapipe's
(`leakage_parameters` on a square camera of the same pixels), and the events a run keeps."""

import numpy as np
import pytest
from ctapipe.image import leakage_parameters
from ctapipe.instrument import CameraGeometry

from jaxgan import camera as camera_lib
from jaxgan.data import dataset as data_lib
from jaxgan.data import selection
from tests.helpers import tiny_config

SIDE = 15
CAMERA = camera_lib.Camera(pixel_size_deg=0.1, picture=6.0, boundary=3.0)


def showers(num: int) -> np.ndarray:
  """(num, SIDE, SIDE, 1) noise plus a bright Gaussian blob at a random place, some near the
  edge."""
  rng = np.random.default_rng(1)
  rows, columns = np.mgrid[:SIDE, :SIDE]
  centres = rng.uniform(0, SIDE - 1, (num, 2))
  blobs = 40 * np.exp(-((rows - centres[:, :1, None]) ** 2 + (columns - centres[:, 1:, None]) ** 2)
                      / 4.0)
  return (blobs + rng.normal(0, 1.5, blobs.shape)).astype(np.float32)[..., None]


def test_intensity_and_leakage_are_ctapipes_on_the_cleaned_image():
  images = showers(40)
  intensity, leakage = selection.intensity_and_leakage(images, CAMERA)
  geometry = CameraGeometry.make_rectangular(npix_x=SIDE, npix_y=SIDE)
  for image, mine, leaked in zip(images[..., 0], intensity, leakage):
    mask = camera_lib.tailcut_mask(image, CAMERA.picture, CAMERA.boundary).reshape(-1)
    if not mask.any():
      assert mine == leaked == 0
      continue
    np.testing.assert_allclose(mine, image.reshape(-1)[mask].sum(), rtol=1e-5)
    expected = leakage_parameters(geometry, image.reshape(-1), mask).intensity_width_2
    np.testing.assert_allclose(leaked, expected, rtol=1e-5, atol=1e-7)
  assert 0 < (leakage > 0.1).mean() < 1  # the cases cover both sides of the source's cut


def test_a_run_keeps_the_gammas_that_pass_the_source_cuts():
  config = tiny_config()
  config.data.num_examples = 400
  everything = data_lib.load_splits(config.data)
  camera = data_lib.camera_of(config.data)
  config.data.update(particle='gamma', min_intensity_pe=200.0, max_leakage=0.1)
  for split, chosen in zip(everything, data_lib.load_splits(config.data)):
    intensity, leakage = selection.intensity_and_leakage(split.images, camera)
    passing = (split.labels['particletype'] == 1) & (intensity >= 200) & (leakage <= 0.1)
    assert 0 < passing.sum() < len(split)
    np.testing.assert_array_equal(chosen.images, split.images[passing])
    np.testing.assert_array_equal(chosen.labels['energy'], split.labels['energy'][passing])


@pytest.mark.fast
@pytest.mark.parametrize('update,message', [
    ({'particle': 'muon'}, "data.particle='muon'"),
    ({'particle': 'gamma', 'online_simulation': True}, 'cannot be combined'),
    ({'name': 'digits', 'max_leakage': 0.5}, "data.name='digits' has none")])
def test_a_selection_the_data_cannot_make_is_refused(update, message):
  config = tiny_config()
  config.data.update(update)
  with pytest.raises(ValueError, match=message):
    data_lib.load_splits(config.data)

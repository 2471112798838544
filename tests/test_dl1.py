"""The DL1 converter on small files written here with h5py in ctapipe's DL1 layout."""

import math
import os
import re
import subprocess
import sys
from typing import Sequence

import h5py
import numpy as np
import pytest

from jaxgan import camera as camera_lib
from jaxgan.data import dl1
from jaxgan.data import hdf5

PITCH_M = 0.05
FOCAL_M = PITCH_M / math.radians(0.1)  # 5 cm pixels of 0.1 degree
TELESCOPE = 2
# obs_id, event_id, true_energy (TeV), true_alt, true_az (deg), true_shower_primary_id
SHOWERS = [(1, 7, 0.5, 70.3, 180.0, 0), (1, 9, 2.0, 69.8, 180.0, 101),
           (1, 12, 1.0, 70.0, 180.0, 402), (1, 20, 3.0, 70.0, 180.0, 0),
           (2, 3, 10.0, 0.0, 10.4, 0), (2, 4, 0.1, 0.0, 9.9, 1)]
POINTINGS = {1: (70.0, 180.0), 2: (0.0, 10.0)}  # obs_id: altitude, azimuth (deg)
# The image table's events, in its order (event (1, 20) has no image of this telescope).
IMAGED = [(2, 3), (1, 9), (1, 12), (1, 7), (2, 4)]
# The converted events (helium 402 and the electron 1 skipped), with their labels: along one
# azimuth the offset is the altitude difference (fov_lat, camera x); at the horizon the offset
# is the azimuth difference (fov_lon, camera y).
EXPECTED = {'particletype': [1, 0, 1], 'energy': np.log10([10.0, 2.0, 0.5]),
            'direction': [(0.0, 0.4), (-0.2, 0.0), (0.3, 0.0)]}
EXPECTED_ROWS = [0, 1, 3]  # of IMAGED


def _table(file: h5py.File, name: str, columns: dict[str, np.ndarray],
           units: dict[str, str]) -> h5py.Dataset:
  """A table as ctapipe (PyTables) writes it: a compound dataset, the unit of column k in
  attribute CTAFIELD_<k>_UNIT."""
  values = {column: np.asarray(value) for column, value in columns.items()}
  rows = np.zeros(len(next(iter(values.values()))),
                  [(column, value.dtype, value.shape[1:]) for column, value in values.items()])
  for column, value in values.items():
    rows[column] = value
  table = file.create_dataset(name, data=rows)
  for index, column in enumerate(values):
    if column in units:
      table.attrs[f'CTAFIELD_{index}_UNIT'] = units[column]
  return table


def _square_camera(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """A 5x5 grid of 5 cm pixels without its 4 corners, pixels in a shuffled order."""
  x, y = np.meshgrid(np.arange(-2, 3) * PITCH_M, np.arange(-2, 3) * PITCH_M)
  corner = (np.abs(x) > 1.5 * PITCH_M) & (np.abs(y) > 1.5 * PITCH_M)
  order = rng.permutation(int((~corner).sum()))
  return x[~corner][order], y[~corner][order]


def _write_instrument(file: h5py.File, pix_x: np.ndarray, pix_y: np.ndarray,
                      pix_type: str) -> None:
  _table(file, dl1.LAYOUT, {'tel_id': np.array([1, TELESCOPE], np.uint16),
                            'camera_index': [0, 0], 'optics_index': [0, 0]}, {})
  geometry = _table(file, dl1.GEOMETRY.format(0),
                    {'pix_id': np.arange(len(pix_x)), 'pix_x': pix_x, 'pix_y': pix_y,
                     'pix_area': np.full(len(pix_x), PITCH_M ** 2)},
                    {'pix_x': 'm', 'pix_y': 'm', 'pix_area': 'm**2'})
  geometry.attrs.update({'CAM_ID': b'TestCam', 'PIX_TYPE': pix_type.encode(), 'PIX_ROT': 0.0,
                         'CAM_ROT': 0.0})
  _table(file, dl1.OPTICS, {'optics_name': [b'Test'], 'equivalent_focal_length': [2 * FOCAL_M],
                            'effective_focal_length': [100 * FOCAL_M]},
         {'equivalent_focal_length': 'm', 'effective_focal_length': 'cm'})


def _write_events(file: h5py.File, showers: Sequence[tuple],
                 pointings: dict[int, tuple[float, float]], charges: np.ndarray) -> None:
  obs_id, event_id, energy, alt, az, primary = (np.array(c) for c in zip(*showers))
  _table(file, dl1.SHOWERS, {'obs_id': obs_id, 'event_id': event_id, 'true_energy': energy,
                             'true_alt': alt, 'true_az': az, 'true_core_x': np.zeros(len(alt)),
                             'true_shower_primary_id': primary},
         {'true_energy': 'TeV', 'true_alt': 'deg', 'true_az': 'deg', 'true_core_x': 'm'})
  altitude, azimuth = np.radians(list(pointings.values())).T
  _table(file, dl1.POINTING.format(TELESCOPE),
         {'obs_id': list(pointings), 'tel_id': [TELESCOPE] * len(pointings),
          'telescope_pointing_azimuth': azimuth, 'telescope_pointing_altitude': altitude},
         {'telescope_pointing_azimuth': 'rad', 'telescope_pointing_altitude': 'rad'})
  obs_id, event_id = np.array(IMAGED).T
  _table(file, dl1.IMAGES.format(TELESCOPE),
         {'obs_id': obs_id, 'event_id': event_id, 'tel_id': [TELESCOPE] * len(obs_id),
          'image': charges.astype(np.float32), 'is_valid': np.ones(len(obs_id), bool)}, {})


def write_dl1(path: str, pix_x: np.ndarray, pix_y: np.ndarray, charges: np.ndarray,
              pix_type: str = 'square', showers: Sequence[tuple] = tuple(SHOWERS),
              pointings: dict[int, tuple[float, float]] = POINTINGS) -> None:
  """A DL1 file of `showers`, `pointings` and images `charges` (len(IMAGED), n_pixels) of the
  IMAGED events for telescope TELESCOPE, whose camera's pixels are at (pix_x, pix_y) metres."""
  with h5py.File(path, 'w') as file:
    _write_instrument(file, pix_x, pix_y, pix_type)
    _write_events(file, showers, pointings, charges)


@pytest.fixture(name='square')
def fixture_square(tmp_path):
  """A DL1 file of a square camera: its path, charges (events, pixels) and pixel positions."""
  rng = np.random.default_rng(0)
  pix_x, pix_y = _square_camera(rng)
  charges = rng.normal(5.0, 3.0, (len(IMAGED), len(pix_x))).astype(np.float32)
  path = str(tmp_path / 'square.dl1.h5')
  write_dl1(path, pix_x, pix_y, charges)
  return path, charges, pix_x, pix_y


def test_command_line_converts_images_and_labels(square, tmp_path):
  path, charges, pix_x, pix_y = square
  output = str(tmp_path / 'out.h5')
  command = [sys.executable, '-m', 'jaxgan.data.dl1', f'--input={path}', f'--input={path}',
             f'--output={output}', f'--telescope={TELESCOPE}', '--chunk_events=2',
             '--tailcut_pe=8,4.5']
  done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert done.returncode == 0, done.stderr
  assert '2 gammas, 1 protons; skipped (primary id: events) {1: 1, 402: 1}' in done.stderr
  split = hdf5.read(output)
  expected_images = np.zeros((len(IMAGED), 5, 5, 1), np.float32)
  rows, columns = (np.round(c / PITCH_M).astype(int) + 2 for c in (pix_y, pix_x))
  expected_images[:, rows, columns, 0] = charges  # pixel (i, j) at x = (j - 2) p, y = (i - 2) p
  np.testing.assert_array_equal(split.images, np.concatenate([expected_images[EXPECTED_ROWS]] * 2))
  for name, values in EXPECTED.items():
    np.testing.assert_allclose(split.labels[name], np.concatenate([values] * 2), atol=1e-5)
  metadata = hdf5.read_metadata(output)
  assert metadata['pixel_size_deg'] == pytest.approx(0.1) and metadata['image_shape'] == (5, 5, 1)
  assert metadata['source'] == 'ctapipe_dl1'
  assert metadata['provenance']['inputs'] == [path, path]
  assert metadata['provenance']['mapper'] == 'grid'
  assert hdf5.read_camera(output, camera_lib.Camera(1.0, 1.0, 1.0)) == (
      pytest.approx(0.1), 8.0, 4.5)  # the levels given, stored with the images


def _drop(name: str):
  def edit(file: h5py.File) -> None:
    del file[name]
  return edit


def _drop_shower_row(file: h5py.File) -> None:
  rows, attributes = file[dl1.SHOWERS][...], dict(file[dl1.SHOWERS].attrs)
  del file[dl1.SHOWERS]
  file.create_dataset(dl1.SHOWERS, data=rows[rows['event_id'] != 9]).attrs.update(attributes)


def _shorter_images(file: h5py.File) -> None:
  name = dl1.IMAGES.format(TELESCOPE)
  rows = file[name][...]
  del file[name]
  _table(file, name, {'obs_id': rows['obs_id'], 'event_id': rows['event_id'],
                      'image': rows['image'][:, :-1]}, {})


BAD_INPUTS = {  # case: (edit of the file, dataset named, problem in the message)
    'image too short': (_shorter_images, dl1.IMAGES.format(TELESCOPE),
                        "column 'image' of shape (20,), expected (21,)"),
    'no shower table': (_drop(dl1.SHOWERS), dl1.SHOWERS, 'missing'),
    'image without shower': (_drop_shower_row, dl1.IMAGES.format(TELESCOPE),
                             'obs_id 1, event_id 9 has no row'),
    'unknown unit': (lambda f: f[dl1.SHOWERS].attrs.__setitem__('CTAFIELD_2_UNIT', 'erg'),
                     dl1.SHOWERS, "'true_energy' in unit 'erg'"),
    'no pointing': (_drop(dl1.POINTING.format(TELESCOPE)), dl1.POINTING.format(TELESCOPE),
                    'missing'),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
@pytest.mark.fast
def test_bad_input_is_refused_with_one_clear_message(square, tmp_path, case):
  path = square[0]
  edit, name, problem = BAD_INPUTS[case]
  with h5py.File(path, 'r+') as file:
    edit(file)
  output = tmp_path / 'out.h5'
  with pytest.raises(ValueError) as raised:
    dl1.convert([path], str(output), TELESCOPE)
  message = str(raised.value)
  assert message.startswith(f'{path}: dataset {name!r}: ') and problem in message
  assert not output.exists() and not os.path.exists(f'{output}.partial')


@pytest.mark.fast
def test_missing_file_and_unknown_telescope_are_refused(square, tmp_path):
  missing, output = str(tmp_path / 'missing.h5'), str(tmp_path / 'out.h5')
  with pytest.raises(FileNotFoundError, match=re.escape(f'{missing}: no such file')):
    dl1.convert([missing], output, TELESCOPE)
  with pytest.raises(ValueError, match=re.escape(
      f"{square[0]}: dataset '{dl1.LAYOUT}': no telescope 5 (telescopes: [1, 2])")):
    dl1.convert([square[0]], output, 5)


def test_hexagonal_camera_through_a_dl1_data_handler_mapper(tmp_path):
  """A source at a pixel's position, that pixel lit: the mapped image's light centroid lies at
  the direction label (the images and labels share the mapper's fitted coordinates)."""
  pytest.importorskip('dl1_data_handler')
  rows, columns = np.meshgrid(np.arange(-12, 13), np.arange(-12, 13), indexing='ij')
  pix_x = (columns + 0.5 * (rows % 2)).ravel() * PITCH_M
  pix_y = (rows * math.sqrt(3) / 2).ravel() * PITCH_M
  inside = np.hypot(pix_x, pix_y) <= 10 * PITCH_M  # 367 pixels (dl1-data-handler's mappers
  pix_x, pix_y = pix_x[inside], pix_y[inside]
  lit = int(np.argmin(np.hypot(pix_x - 0.1, pix_y + 0.07)))  # a pixel off the axes
  charges = np.zeros((len(IMAGED), len(pix_x)), np.float32)
  charges[:, lit] = 100.0
  # Every event from the lit pixel's direction seen at the horizon, where the offsets from the
  # pointing (fov_lat, fov_lon) = (x, y) / f are the altitude and azimuth differences.
  direction = (math.degrees(pix_x[lit] / FOCAL_M), 10.0 + math.degrees(pix_y[lit] / FOCAL_M))
  showers = [shower[:3] + direction + shower[5:] for shower in SHOWERS]
  path = str(tmp_path / 'hex.dl1.h5')
  write_dl1(path, pix_x, pix_y, charges, 'hexagon', showers, {1: (0.0, 10.0), 2: (0.0, 10.0)})
  output = str(tmp_path / 'out.h5')
  dl1.convert([path], output, TELESCOPE)  # auto: OversamplingMapper
  split, pixel = hdf5.read(output), hdf5.read_metadata(output)['pixel_size_deg']
  assert hdf5.read_camera(output, camera_lib.Camera(1.0, 1.0, 1.0))[1:] == (6.0, 3.0)  # MAGIC's
  image = split.images[0, ..., 0]
  assert image.sum() == pytest.approx(100.0, rel=1e-5)
  centre = (np.array(image.shape) - 1) / 2
  i, j = np.meshgrid(np.arange(image.shape[0]), np.arange(image.shape[1]), indexing='ij')
  centroid = np.array([((j - centre[1]) * image).sum(), ((i - centre[0]) * image).sum()])
  np.testing.assert_allclose(centroid / image.sum() * pixel, split.labels['direction'][0],
                             atol=0.3 * pixel)

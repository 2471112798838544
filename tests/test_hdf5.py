"""Tests of the jaxgan HDF5 format (`jaxgan.data.hdf5`) and the toy_iact command line.

Files are written with small random images (many chunks of a few images) and checked against the
numpy arrays they were written from; reads are counted by wrapping `h5py.Dataset.__getitem__`,
and broken files are made by editing valid ones with h5py directly.
"""

import logging
import os
import re
import subprocess
import sys

import h5py
import jax
import ml_collections
import numpy as np
import pytest

from jaxgan import camera as camera_lib
from jaxgan import labels as labels_lib
from jaxgan.data import dataset
from jaxgan.data import hdf5
from jaxgan.data import pipeline
from jaxgan.data import toy_iact

NUM, SHAPE, CHUNK = 300, (6, 5, 1), 16
PROVENANCE = {'simulator': 'test', 'seed': 7, 'config': {'a': 1.5, 'b': [1, 2]}}
CAMERA = camera_lib.Camera(pixel_size_deg=0.1, picture=6.0, boundary=3.0)


def _example() -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """NUM random images of SHAPE and labels, in the dtypes of the format."""
  rng = np.random.default_rng(0)
  images = (10.0 * rng.standard_normal((NUM,) + SHAPE)).astype(np.float32)
  labels = {'particletype': rng.integers(0, 2, NUM).astype(np.int32),
            'energy': rng.uniform(-1.3, 1.7, NUM).astype(np.float32),
            'direction': rng.standard_normal((NUM, 2)).astype(np.float32)}
  return images, labels


def _write(path, images: np.ndarray, labels: dict[str, np.ndarray]) -> None:
  hdf5.write(path, images, labels, camera=CAMERA, provenance=PROVENANCE, source='test',
             chunk_images=CHUNK)


def _write_gzip(path, images: np.ndarray, labels: dict[str, np.ndarray]) -> None:
  """A file as another writer could make it: images compressed, in chunks of CHUNK images."""
  _write(path, images, labels)
  with h5py.File(path, 'r+') as f:
    del f['images']
    f.create_dataset('images', data=images, chunks=(CHUNK,) + SHAPE, compression='gzip')


def _writer(path):
  return hdf5.append_writer(path, SHAPE, camera=CAMERA, provenance=PROVENANCE,
                            source='test', chunk_images=CHUNK)


@pytest.fixture
def example(tmp_path) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
  path = str(tmp_path / 'split.h5')
  images, labels = _example()
  _write(path, images, labels)
  return path, images, labels


def _slab(selection, length: int) -> tuple[int, int]:
  """(start, stop) of a read of whole images; fails for any other (fancy) selection."""
  if selection is Ellipsis:
    return 0, length
  if isinstance(selection, slice):
    return selection.indices(length)[:2]
  return int(selection), int(selection) + 1


@pytest.fixture
def reads(monkeypatch) -> list[tuple[int, int]]:
  """(start, stop) of every read of an h5py dataset of images (rank 4) from now on."""
  recorded = []
  original = h5py.Dataset.__getitem__

  def counting(self, selection):
    if self.ndim == 4:
      recorded.append(_slab(selection, len(self)))
    return original(self, selection)

  monkeypatch.setattr(h5py.Dataset, '__getitem__', counting)
  return recorded


def _assert_split_equal(split: dataset.Split, images: np.ndarray, labels: dict) -> None:
  np.testing.assert_array_equal(np.asarray(split.images), images, strict=True)
  assert set(split.labels) == set(labels)
  for name, values in labels.items():
    np.testing.assert_array_equal(split.labels[name], values, strict=True)


@pytest.mark.fast
def test_round_trip_is_exact(example):
  path, images, labels = example
  _assert_split_equal(hdf5.read(path), images, labels)
  assert hdf5.read_metadata(path) == {
      'format_version': 1, 'pixel_size_deg': 0.1, 'image_shape': SHAPE, 'source': 'test',
      'provenance': PROVENANCE, 'tailcut_picture_pe': 6.0, 'tailcut_boundary_pe': 3.0}
  with h5py.File(path, 'r') as f:
    assert f.attrs['format'] == hdf5.FORMAT == 'jaxgan-iact'
    assert f['images'].chunks == (CHUNK,) + SHAPE and f['images'].compression is None
  assert os.listdir(os.path.dirname(path)) == ['split.h5']  # no partial file left


def test_lazy_indexing_equals_numpy(example):
  path, images, _ = example
  lazy = hdf5.open_split(path).images
  assert (lazy.shape, lazy.dtype, len(lazy)) == (images.shape, np.float32, NUM)
  rng = np.random.default_rng(1)
  indices = [rng.integers(-NUM, NUM, 80), np.array([7, 3, 7, 7, 299, 0, -1, 3]),
             np.arange(40, 10, -3), np.array([], np.int64), np.array([5], np.uint8), [4, 2]]
  keys = indices + [0, 17, -1, np.int64(123), slice(None), slice(10, 50), slice(None, None, 7),
                    slice(None, None, -4), slice(250, 1000), slice(30, 10)]
  for key in keys:
    np.testing.assert_array_equal(lazy[key], images[key], strict=True)
  for bad, error in [(NUM, IndexError), (np.array([1, -NUM - 1]), IndexError),
                     (np.array([True, False]), TypeError), ((1, 2), TypeError)]:
    with pytest.raises(error):
      lazy[bad]  # pylint: disable=pointless-statement


def test_take_of_open_split_equals_in_memory(example):
  path, images, labels = example
  indices = np.random.default_rng(2).permutation(np.repeat(np.arange(0, NUM, 11), 2))
  expected = dataset.Split(images, labels).take(indices)
  taken = hdf5.open_split(path).take(indices)
  assert isinstance(taken.images, np.ndarray)
  _assert_split_equal(taken, expected.images, expected.labels)


def test_lazy_batch_reads_only_its_rows(example, reads):
  path, images, _ = example
  lazy = hdf5.open_split(path).images
  reads.clear()  # validation scanned the file
  batch = np.array([250, 3, 4, 5, 250, 120, 6, 40, 41, 3, 9, 15, 16])
  np.testing.assert_array_equal(lazy[batch], images[batch])
  # Runs of sorted rows (chunks are 0-15, 16-31, ...): each row read once, no other row.
  assert sorted(reads) == [(3, 7), (9, 10), (15, 17), (40, 42), (120, 121), (250, 251)]


def test_compressed_file_reads_each_chunk_once(tmp_path, reads):
  """A compressed file of another writer: one read per chunk touched, inside that chunk."""
  path = str(tmp_path / 'gzip.h5')
  images, labels = _example()
  _write_gzip(path, images, labels)
  lazy = hdf5.open_split(path).images
  reads.clear()
  batch = np.array([5, 290, 1, 17, 31, 5, 16, 200])
  np.testing.assert_array_equal(lazy[batch], images[batch])
  assert sorted(reads) == [(1, 6), (16, 32), (200, 201), (290, 291)]


def _keys(num: int) -> list:
  """Indices of every kind into `num` rows: ints, slices with steps, arrays in any order."""
  rng = np.random.default_rng(num)
  arrays = [rng.integers(-num, num, 80), np.array([7, 3, 7, 7, num - 1, 0, 3]) % num,
            np.array([-1, 0, -1, -num]), np.arange(num - 1, 0, -3), np.array([], np.int64),
            np.array([num - 1], np.uint16), [num // 3, 0]]
  return arrays + [0, -1 - num // 3, -1, -num, np.int64(num // 2), slice(None), slice(2, num - 3),
                   slice(None, None, 7), slice(None, None, -4), slice(-3, None, 2),
                   slice(num - 5, 10 * num), slice(num // 2, 1), slice(1, -1, 5)]


def _assert_indexes_like(lazy: hdf5.LazyImages, expected: np.ndarray) -> None:
  """`lazy` indexes as numpy indexes `expected`, and refuses indices outside its rows."""
  num = len(expected)
  assert (lazy.shape, lazy.dtype, len(lazy)) == (expected.shape, np.float32, num)
  for key in _keys(num):
    np.testing.assert_array_equal(lazy[key], expected[key], strict=True)
  for bad in (num, -num - 1, np.array([0, num]), np.array([-num - 1, 2]), [num + 3]):
    with pytest.raises(IndexError):
      lazy[bad]  # pylint: disable=pointless-statement


@pytest.mark.parametrize('write', [_write, _write_gzip], ids=['uncompressed', 'gzip'])
def test_row_view_indexes_like_numpy_slice(tmp_path, write):
  path = str(tmp_path / 'split.h5')
  images, labels = _example()
  write(path, images, labels)
  lazy = hdf5.open_split(path).images
  _assert_indexes_like(lazy, images)
  for (start, stop), view in [((37, 250), lazy.rows(37, 250)), ((0, NUM), lazy.rows(0, NUM)),
                              ((47, 137), lazy.rows(37, 250).rows(10, 100)),
                              ((NUM - 1, NUM), lazy.rows(NUM - 1, NUM))]:
    _assert_indexes_like(view, images[start:stop])
    np.testing.assert_array_equal(np.asarray(view), images[start:stop], strict=True)
  for start, stop in [(-1, 5), (5, 4), (0, NUM + 1)]:
    with pytest.raises(IndexError):
      lazy.rows(start, stop)
  with pytest.raises(IndexError):
    lazy.rows(37, 250).rows(0, 214)  # rows of the file, but beyond the view


@pytest.mark.parametrize('write, expected', [
    (_write, [(10, 11), (15, 18), (32, 33), (110, 111), (249, 250)]),  # runs of file rows
    (_write_gzip, [(10, 16), (16, 18), (32, 33), (110, 111), (249, 250)]),  # chunks of 16 rows
], ids=['uncompressed', 'gzip'])
def test_row_view_reads_only_its_rows(tmp_path, reads, write, expected):
  path = str(tmp_path / 'split.h5')
  images, labels = _example()
  write(path, images, labels)
  view = hdf5.open_split(path).images.rows(10, 250)
  reads.clear()
  batch = np.array([5, 6, 7, -1, 0, 22, 5, 100])  # file rows 15-17, 249, 10, 32, 15, 110
  np.testing.assert_array_equal(view[batch], images[10:250][batch], strict=True)
  assert sorted(reads) == expected
  reads.clear()
  np.testing.assert_array_equal(np.asarray(view), images[10:250], strict=True)
  np.testing.assert_array_equal(view[200:1000], images[210:250], strict=True)
  assert reads == [(10, 250), (210, 250)]


def _hold_out_config(path: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({'name': 'hdf5', 'path': path, 'validation_path': '',
                                    'validation_fraction': 0.1})


def test_hold_out_of_one_file_stays_on_disk(example):
  path, _, _ = example
  train, validation = dataset.load_splits(_hold_out_config(path))
  in_memory = hdf5.read(path)
  for split, rows in [(train, slice(0, 270)), (validation, slice(270, NUM))]:
    assert isinstance(split.images, hdf5.LazyImages)
    _assert_split_equal(split, in_memory.images[rows],
                        {name: values[rows] for name, values in in_memory.labels.items()})


def test_held_out_splits_read_only_their_rows(example, reads):
  path, images, _ = example
  train, validation = dataset.load_splits(_hold_out_config(path))
  reads.clear()  # validation scanned the file
  batch = pipeline.training_batch(train, 64, seed=3, step=7,
                                  normalisation=pipeline.Normalisation(1.0, 'linear'),
                                  num_devices=1)
  indices = pipeline.batch_indices(270, 64, 3, 7)
  np.testing.assert_array_equal(batch['images'][0], images[indices], strict=True)
  read = np.concatenate([np.arange(start, stop) for start, stop in reads])
  np.testing.assert_array_equal(np.sort(read), np.unique(indices))  # each row once, no other
  reads.clear()
  np.testing.assert_array_equal(validation.take(np.array([29, 0, 29])).images,
                                images[[299, 270, 299]], strict=True)
  np.testing.assert_array_equal(validation.pixel_sample(100), images[270:].reshape(-1)[:100],
                                strict=True)
  pipeline.noise_scale(train, max_pixels=100)
  assert reads == [(270, 271), (299, 300), (270, 274), (0, 4)]


def test_streamed_reading_equals_in_memory(example, reads, monkeypatch):
  path, images, _ = example
  monkeypatch.setattr(hdf5, '_STREAM_BYTES', 3 * CHUNK * images[0].nbytes)  # 3 chunks a read
  lazy = hdf5.open_split(path).images
  assert reads == [(start, min(start + 48, NUM)) for start in range(0, NUM, 48)]
  pieces = [lazy[start:start + 37] for start in range(0, NUM, 37)]
  np.testing.assert_array_equal(np.concatenate(pieces), images, strict=True)
  np.testing.assert_array_equal(np.asarray(lazy), images, strict=True)
  reads.clear()
  split = hdf5.open_split(path)
  np.testing.assert_array_equal(split.pixel_sample(100), images.reshape(-1)[:100], strict=True)
  assert reads[-1] == (0, 4)  # 30 pixels per image: only the first 4 images are read
  np.testing.assert_array_equal(split.pixel_sample(10**9), images.reshape(-1), strict=True)


def test_append_writer_in_pieces_equals_one_write(tmp_path, example):
  path, images, labels = example
  pieced = str(tmp_path / 'pieced.h5')
  with _writer(pieced) as writer:
    for start, stop in [(0, 1), (1, 100), (100, 100), (100, 250), (250, NUM)]:
      writer.append(images[start:stop], {k: v[start:stop] for k, v in labels.items()})
    assert len(writer) == NUM
  _assert_split_equal(hdf5.read(pieced), images, labels)
  assert hdf5.read_metadata(pieced) == hdf5.read_metadata(path)
  with h5py.File(path, 'r') as one, h5py.File(pieced, 'r') as several:
    assert {k: (v.shape, v.dtype, v.chunks) for k, v in one.items()} == {
        k: (v.shape, v.dtype, v.chunks) for k, v in several.items()}


def test_exception_in_append_writer_leaves_no_file(tmp_path):
  path = tmp_path / 'split.h5'
  images, labels = _example()
  with pytest.raises(RuntimeError, match='crash'):
    with _writer(path) as writer:
      writer.append(images, labels)
      raise RuntimeError('crash')
  assert not os.listdir(tmp_path)


def test_bad_piece_adds_nothing_and_names_its_image(tmp_path):
  images, labels = _example()
  images[150, 0, 0, 0] = np.inf
  with _writer(tmp_path / 'split.h5') as writer:
    writer.append(images[:100], {k: v[:100] for k, v in labels.items()})
    with pytest.raises(ValueError, match='image 150 has NaN or infinite'):
      writer.append(images[100:], {k: v[100:] for k, v in labels.items()})
    assert len(writer) == 100
  assert len(hdf5.read(tmp_path / 'split.h5')) == 100


def test_failed_write_keeps_the_previous_file(example):
  path, images, labels = example
  bad = images.copy()
  bad[42, 1, 2, 0] = np.nan
  with pytest.raises(ValueError, match='image 42 has NaN'):
    _write(path, bad, labels)
  with pytest.raises(RuntimeError):
    with _writer(path) as writer:
      writer.append(images[:5], {k: v[:5] for k, v in labels.items()})
      raise RuntimeError('crash')
  _assert_split_equal(hdf5.read(path), images, labels)
  assert os.listdir(os.path.dirname(path)) == ['split.h5']


def _replace(name: str, make):
  """An edit of a valid file: dataset `name` replaced by make(old values)."""
  def edit(f: h5py.File) -> None:
    values = f[name][...]
    del f[name]
    f.create_dataset(name, data=make(values))
  return edit


def _set(name: str, index, value):
  def change(values):
    values[index] = value
    return values
  return _replace(name, change)


def _set_attribute(name: str, value):
  def edit(f: h5py.File) -> None:
    f.attrs[name] = value
  return edit


def _empty(f: h5py.File) -> None:
  for name in ('images',) + labels_lib.LABEL_KEYS:
    _replace(name, lambda v: v[:0])(f)


BAD_FILES = {  # case: (edit, dataset or attribute named, problem in the message)
    'images missing': (lambda f: f.__delitem__('images'), 'images', 'missing'),
    'energy missing': (lambda f: f.__delitem__('energy'), 'energy', 'missing'),
    'images 3-d': (_replace('images', lambda v: v[..., 0]), 'images', '4 dimensions'),
    'images float64': (_replace('images', lambda v: v.astype(np.float64)), 'images', 'float32'),
    'images NaN': (_set('images', (slice(123, NUM, 77), 2, 1, 0), np.nan), 'images',
                   'image 123 has NaN'),
    'images inf': (_set('images', (NUM - 1, 0, 0, 0), -np.inf), 'images', f'image {NUM - 1}'),
    'labels too short': (_replace('energy', lambda v: v[:-1]), 'energy', 'one entry per image'),
    'particletype float': (_replace('particletype', lambda v: v.astype(np.float32)),
                           'particletype', 'integer'),
    'particletype 2': (_set('particletype', 9, 2), 'particletype', 'entry 9 (2)'),
    'direction 1-d': (_replace('direction', lambda v: v[:, 0]), 'direction', 'shape'),
    'direction 3 columns': (_replace('direction', lambda v: np.pad(v, ((0, 0), (0, 1)))),
                            'direction', 'shape'),
    'energy NaN': (_set('energy', 5, np.nan), 'energy', 'entry 5 (nan) is NaN'),
    'direction inf': (_set('direction', (7, 1), np.inf), 'direction', 'entry 7'),
    'empty split': (_empty, 'images', 'empty'),
    'wrong format': (_set_attribute('format', 'other'), 'format', "expected 'jaxgan-iact'"),
    'newer version': (_set_attribute('format_version', 2), 'format_version', 'version 1'),
    'no pixel size': (lambda f: f.attrs.__delitem__('pixel_size_deg'), 'pixel_size_deg',
                      'missing'),
    'image_shape mismatch': (_set_attribute('image_shape', np.array([5, 6, 1])), 'image_shape',
                             'says (5, 6, 1)'),
    'provenance not JSON': (_set_attribute('provenance', '{seed: 1'), 'provenance', 'JSON'),
    'one tailcut level': (lambda f: f.attrs.__delitem__('tailcut_boundary_pe'),
                          'tailcut_boundary_pe', 'missing'),
    'negative picture level': (_set_attribute('tailcut_picture_pe', -1.0), 'tailcut_picture_pe',
                               '>= 0'),
    'boundary above picture': (_set_attribute('tailcut_boundary_pe', 7.0), 'tailcut_boundary_pe',
                               'above the picture level 6.0'),
}


@pytest.mark.parametrize('case', sorted(BAD_FILES))
def test_bad_file_is_refused_with_one_clear_message(example, case, monkeypatch):
  path, _, _ = example
  monkeypatch.setattr(hdf5, '_STREAM_BYTES', 1000)  # images scanned 8 at a time
  edit, name, problem = BAD_FILES[case]
  with h5py.File(path, 'r+') as f:
    edit(f)
  with open(path, 'rb') as f:
    content = f.read()
  for reader in (hdf5.validate, hdf5.open_split, hdf5.read):
    with pytest.raises(ValueError) as raised:
      reader(path)
    message = str(raised.value)
    assert message.startswith(f'{path}: ') and f"'{name}'" in message and problem in message
  with open(path, 'rb') as f:
    assert f.read() == content  # reading lost nothing


def _hdf5_config(path) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({'name': 'hdf5', 'path': str(path)})


def test_a_file_gives_its_own_camera(tmp_path):
  """Pixel size and cleaning levels other than the toy telescope's come back from the file, as
  its dataset entry's camera."""
  path, camera = str(tmp_path / 'split.h5'), camera_lib.Camera(0.17, 9.5, 4.25)
  images, labels = _example()
  hdf5.write(path, images, labels, camera=camera, provenance=PROVENANCE, source='test')
  assert hdf5.read_camera(path, CAMERA) == camera
  assert dataset.camera_of(_hdf5_config(path)) == camera


def test_a_file_without_tailcut_levels_falls_back_with_a_warning(example, caplog):
  """Another writer's file without the levels: the default's levels, the file's pixel size."""
  path, _, _ = example
  with h5py.File(path, 'r+') as f:
    f.attrs['pixel_size_deg'] = 0.2
    for name in hdf5.TAILCUT_ATTRIBUTES:
      del f.attrs[name]
  hdf5.validate(path)
  with caplog.at_level(logging.WARNING):
    camera = dataset.camera_of(_hdf5_config(path))
  assert camera == camera_lib.Camera(0.2, 6.0, 3.0)  # the toy telescope's levels
  assert any('has no tailcut levels' in record.getMessage() and path in record.getMessage()
             for record in caplog.records if record.levelno == logging.WARNING)
  assert hdf5.read_camera(path, camera_lib.Camera(0.1, 5.0, 2.0)) == (0.2, 5.0, 2.0)


def test_missing_or_foreign_file_is_refused(tmp_path):
  missing, text = str(tmp_path / 'missing.h5'), tmp_path / 'text.h5'
  with pytest.raises(FileNotFoundError, match=re.escape(missing)):
    hdf5.open_split(missing)
  text.write_text('not hdf5')
  with pytest.raises(ValueError, match=re.escape(f'{text}: not an HDF5 file')):
    hdf5.validate(text)


BAD_WRITES = {  # case: (edit of {'images': ..., labels...}, dataset named, problem in the message)
    'images NaN': (lambda a: a['images'].__setitem__((77, 0, 0, 0), np.nan), 'images', 'image 77'),
    'images 3-d': (lambda a: a.update(images=a['images'][..., 0]), 'images', '4 dimensions'),
    'images float64': (lambda a: a.update(images=a['images'].astype(np.float64)), 'images',
                       'float32'),
    'empty': (lambda a: a.update({k: v[:0] for k, v in a.items()}), 'images', 'empty'),
    'energy too long': (lambda a: a.update(energy=np.zeros(NUM + 1, np.float32)), 'energy',
                        'one entry per image'),
    'particletype float': (lambda a: a.update(particletype=np.ones(NUM)), 'particletype',
                           'integer'),
    'direction 1-d': (lambda a: a.update(direction=np.zeros(NUM, np.float32)), 'direction',
                      'shape'),
    'direction NaN': (lambda a: a['direction'].__setitem__((3, 0), np.nan), 'direction',
                      'entry 3'),
    'label missing': (lambda a: a.pop('energy'), 'energy', 'missing'),
    'label unknown': (lambda a: a.update(charge=np.zeros(NUM)), 'charge', 'unknown label'),
}


@pytest.mark.parametrize('case', sorted(BAD_WRITES))
def test_bad_input_is_refused_by_write(tmp_path, case):
  path = str(tmp_path / 'split.h5')
  images, labels = _example()
  arrays = {'images': images, **labels}
  edit, name, problem = BAD_WRITES[case]
  edit(arrays)
  with pytest.raises(ValueError) as raised:
    _write(path, arrays.pop('images'), arrays)
  message = str(raised.value)
  assert message.startswith(f'{path}: ') and f"'{name}'" in message and problem in message
  assert not os.listdir(tmp_path)


def test_toy_iact_command_line_writes_simulate_output(tmp_path):
  path = str(tmp_path / 'toy.h5')
  command = [sys.executable, '-m', 'jaxgan.data.toy_iact', f'--output={path}', '--num=300',
             '--seed=3', '--piece_size=100', '--sim.chunk_size=64', '--sim.energy_min_tev=0.2',
             '--sim.tailcut_picture_pe=7', '--sim.tailcut_boundary_pe=3.5']
  done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert done.returncode == 0, done.stderr
  progress = [line for line in done.stderr.splitlines() if 'events/s' in line]
  assert [line.split('] ')[1].split(' |')[0] for line in progress] == [
      '128/300 events', '256/300 events', '300/300 events']  # pieces of 2 chunks of 64
  hdf5.validate(path)
  config = toy_iact.default_config()
  config.update(chunk_size=64, energy_min_tev=0.2, tailcut_picture_pe=7.0,
                tailcut_boundary_pe=3.5)
  images, labels = toy_iact.simulate(jax.random.key(3), 300, config)
  _assert_split_equal(hdf5.read(path), images, labels)
  metadata = hdf5.read_metadata(path)
  assert (metadata['source'], metadata['pixel_size_deg'], metadata['image_shape']) == (
      'toy_iact', 0.1, (43, 43, 1))
  assert hdf5.read_camera(path, CAMERA) == camera_lib.Camera(0.1, 7.0, 3.5)
  provenance = metadata['provenance']
  assert (provenance['seed'], provenance['num'], provenance['config']) == (3, 300, config.to_dict())


def _truncate(path: str) -> None:
  """Cuts the file to half its size, as a copy cut short would."""
  os.truncate(path, os.path.getsize(path) // 2)


def _break_an_index(path: str) -> None:
  """Overwrites the signature of the file's first B-tree (an index of groups or chunks), as
  damage on disk might."""
  with open(path, 'rb') as f:
    at = f.read().index(b'TREE')
  with open(path, 'r+b') as f:
    f.seek(at)
    f.write(b'XXXX')


@pytest.mark.parametrize('damage,reason', [(_truncate, 'truncated file'),
                                           (_break_an_index, 'B-tree signature')],
                         ids=['truncated', 'damaged index'])
def test_an_unreadable_file_is_refused_in_one_line_naming_it(example, damage, reason):
  path, _, _ = example
  damage(path)
  for reader in (hdf5.validate, hdf5.open_split, hdf5.read):
    with pytest.raises(ValueError) as raised:
      reader(path)
    message = str(raised.value)
    assert message.startswith(f'{path}: not a readable HDF5 file (') and reason in message
    assert '\n' not in message


def test_a_truncated_file_gives_no_camera(example):
  path, _, _ = example
  _truncate(path)
  with pytest.raises(ValueError, match=re.escape(f'{path}: not a readable HDF5 file (truncated')):
    dataset.camera_of(_hdf5_config(path))

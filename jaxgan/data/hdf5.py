"""The jaxgan HDF5 data format: one file per split of labelled telescope images.

Layout of a file (`FORMAT` 'jaxgan-iact', `FORMAT_VERSION` 1):

| name | kind | content |
| --- | --- | --- |
| `images` | dataset (N, H, W, C) float32 | pixel charges, photoelectrons |
| `particletype` | dataset (N,) int32 | gamma 1, proton 0 (`jaxgan.labels`) |
| `energy` | dataset (N,) float32 | log10(E / TeV) |
| `direction` | dataset (N, 2) float32 | arrival direction - pointing, degrees (x, y) |
| `format`, `format_version` | attributes | 'jaxgan-iact', 1 |
| `pixel_size_deg` | attribute | the camera's pixel field of view, degrees |
| `tailcut_picture_pe` | attribute | the camera's tailcut picture level, pe (optional) |
| `tailcut_boundary_pe` | attribute | its boundary level, pe (optional, with the picture level) |
| `image_shape` | attribute | (H, W, C) |
| `source` | attribute | the origin of the events, e.g. 'toy_iact' |
| `provenance` | attribute | JSON object: simulator version, seed and config, or source files |

The camera (`read_camera`, a `jaxgan.camera.Camera`) is the pixel size and the two tailcut levels
with which samples and evaluations clean the images. Every writer here stores the levels; a file
without them is read with the caller's default levels (`jaxgan.data.dataset` gives the toy
telescope's), and a warning.

Storage decisions:
- Images are chunked by `chunk_images` (default 256) whole images along N, ~1.9 MB for 43x43x1,
  and *not compressed*: training reads random mini-batches, which touch about one image per
  chunk, and a compressed chunk must be decompressed whole for each of them; pedestal-subtracted
  noisy charges also compress poorly (gzip with shuffle: 1.19x on toy_iact images, lzf: 1.08x).
  Files are opened without HDF5 chunk cache (`rdcc_nbytes=0`): reads never revisit a chunk, so
  the cache would only copy whole chunks needlessly.
- Every dataset is resizable along N (chunked, `maxshape` None), so `write` and `append_writer`
  produce the same layout; label chunks hold `_LABEL_CHUNK` entries.
- Writing is atomic: a file is written as `path + '.partial'`, flushed to disk and renamed over
  `path` only when complete, so an interrupted or failed write never leaves a partial file (nor
  clobbers a previous one) under `path`.

Reading: `open_split` keeps the images on disk behind `LazyImages` (labels are small and loaded;
`LazyImages.rows` views a range of rows, still on disk), `read` loads everything. Both check the
whole file first: attributes, dataset shapes and dtypes, a non-empty split, finite labels and
pixels, particle types 0 or 1; `validate` and `open_split` scan the images in blocks of whole
chunks (about `_STREAM_BYTES`), never loading them whole. Any problem raises one ValueError
naming the file, the dataset (or attribute) and the problem (the first bad image or entry by
index); so does a file HDF5 cannot read (truncated, or damaged: `open_file`, `readable`), as
'<path>: not a readable HDF5 file (<HDF5's reason>)'. Readers accept any integer dtype for
`particletype` and any floating dtype for `energy` and `direction` (returned as int32 /
float32); images must be float32. Writers apply the same checks to each piece before writing it.
"""

import contextlib
import json
import math
import os
import re
from typing import Any, Callable, Iterator, Mapping

import h5py
import numpy as np
from absl import logging

from jaxgan import camera as camera_lib
from jaxgan import labels as labels_lib
from jaxgan.data.split import Split

FORMAT = 'jaxgan-iact'
FORMAT_VERSION = 1
ATTRIBUTE_NAMES = ('format', 'format_version', 'pixel_size_deg', 'image_shape', 'source',
                   'provenance')
TAILCUT_ATTRIBUTES = ('tailcut_picture_pe', 'tailcut_boundary_pe')  # optional: read_camera
# Per label: the shape of one entry, the accepted dtype kinds, the dtype stored and returned.
_LABELS = {
    'particletype': ((), 'iu', np.int32),
    'energy': ((), 'f', np.float32),
    'direction': ((2,), 'f', np.float32),
}
_LABEL_CHUNK = 4096  # label entries per HDF5 chunk
_STREAM_BYTES = 1 << 24  # about the bytes of images read at once when scanning a whole file
PARTIAL = '.partial'  # appended to the name of a file being written (`append_writer`)

PathLike = str | os.PathLike


def _where(path: str, name: str) -> str:
  return f'{path}: dataset {name!r}'


def _is_scalar(value: Any, kinds: str) -> bool:
  return np.ndim(value) == 0 and np.asarray(value).dtype.kind in kinds


def _text(value: Any) -> Any:
  """A string attribute as str (HDF5 files of other writers may hold bytes)."""
  return value.decode() if isinstance(value, bytes) else value


def _checked_attributes(attrs: Mapping[str, Any], path: str) -> dict[str, Any]:
  """The file attributes, validated and decoded (`provenance` as a dict, without `format`)."""
  def fail(name: str, problem: str) -> ValueError:
    return ValueError(f'{path}: attribute {name!r}: {problem}')

  for name in ATTRIBUTE_NAMES:
    if name not in attrs:
      raise fail(name, f'missing (not a {FORMAT} file?)')
  if _text(attrs['format']) != FORMAT:
    raise fail('format', f'{attrs["format"]!r}, expected {FORMAT!r}')
  version = attrs['format_version']
  if not (_is_scalar(version, 'iu') and int(version) == FORMAT_VERSION):
    raise fail('format_version', f'{version!r}; this reader knows version {FORMAT_VERSION}')
  pixel = attrs['pixel_size_deg']
  if not (_is_scalar(pixel, 'iuf') and math.isfinite(pixel) and pixel > 0):
    raise fail('pixel_size_deg', f'{pixel!r}, expected a finite number > 0')
  shape = np.asarray(attrs['image_shape'])
  if shape.shape != (3,) or shape.dtype.kind not in 'iu' or (shape < 1).any():
    raise fail('image_shape', f'{attrs["image_shape"]!r}, expected 3 positive ints (H, W, C)')
  source = _text(attrs['source'])
  if not (isinstance(source, str) and source):
    raise fail('source', f'{source!r}, expected a non-empty string')
  try:
    provenance = json.loads(_text(attrs['provenance']))
  except (TypeError, ValueError) as error:
    raise fail('provenance', f'not a JSON string ({error})') from error
  if not isinstance(provenance, dict):
    raise fail('provenance', f'JSON {type(provenance).__name__}, expected an object')
  return {'format_version': FORMAT_VERSION, 'pixel_size_deg': float(pixel),
          'image_shape': tuple(int(s) for s in shape), 'source': source, 'provenance': provenance,
          **_checked_tailcut(attrs, fail)}


def _checked_tailcut(attrs: Mapping[str, Any],
                     fail: Callable[[str, str], ValueError]) -> dict[str, float]:
  """The tailcut levels the file has (none, or both: finite, 0 <= boundary <= picture)."""
  present = [name for name in TAILCUT_ATTRIBUTES if name in attrs]
  if not present:
    return {}
  if len(present) < len(TAILCUT_ATTRIBUTES):
    missing = sorted(set(TAILCUT_ATTRIBUTES) - set(present))[0]
    raise fail(missing, f'missing, while {present[0]!r} is set (store both levels or none)')
  for name in TAILCUT_ATTRIBUTES:
    value = attrs[name]
    if not (_is_scalar(value, 'iuf') and math.isfinite(value) and value >= 0):
      raise fail(name, f'{value!r}, expected a finite number >= 0')
  picture, boundary = (float(attrs[name]) for name in TAILCUT_ATTRIBUTES)
  if boundary > picture:
    raise fail('tailcut_boundary_pe', f'{boundary} is above the picture level {picture}')
  return {'tailcut_picture_pe': picture, 'tailcut_boundary_pe': boundary}


def _check_images_layout(shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
  if len(shape) != 4:
    raise ValueError(f'{where}: shape {shape}, expected 4 dimensions (N, H, W, C)')
  if dtype != np.float32:
    raise ValueError(f'{where}: dtype {dtype}, expected float32')


def _block_rows(images: Any) -> int:
  """Images per read when scanning `images`: whole chunks, about _STREAM_BYTES."""
  chunks = getattr(images, 'chunks', None)
  chunk_rows = chunks[0] if chunks else 1
  chunk_bytes = chunk_rows * images.dtype.itemsize * math.prod(images.shape[1:])
  return chunk_rows * max(1, _STREAM_BYTES // chunk_bytes)


def _check_finite_images(images: Any, where: str, offset: int = 0) -> None:
  """Raises at the first image with a NaN or infinite pixel, reading blocks of `images` (an
  h5py dataset or an array) so that a dataset is never loaded whole."""
  step = _block_rows(images)
  for start in range(0, len(images), step):
    block = np.asarray(images[start:start + step])
    finite = np.isfinite(block.reshape(len(block), -1)).all(axis=1)
    if not finite.all():
      index = offset + start + int(np.argmin(finite))
      raise ValueError(f'{where}: image {index} has NaN or infinite pixels')


def _checked_label(values: Any, name: str, num: int, where: str) -> np.ndarray:
  """A label array (or h5py dataset, checked before it is loaded) as int32 / float32.

  Args:
    values: (num,) or (num, 2) entries of label `name`.
    name: one of `labels.LABEL_KEYS`.
    num: number of images.
    where: the file and dataset, for error messages.

  Returns:
    The values as a numpy array of the stored dtype.
  """
  tail, kinds, dtype = _LABELS[name]
  if tuple(values.shape) != (num,) + tail:
    raise ValueError(f'{where}: shape {tuple(values.shape)}, expected {(num,) + tail} '
                     f'(one entry per image, {num} images)')
  if values.dtype.kind not in kinds:
    expected = 'an integer' if kinds == 'iu' else 'a floating-point'
    raise ValueError(f'{where}: dtype {values.dtype}, expected {expected} type')
  values = np.asarray(values)
  if name == 'particletype':
    bad = (values < 0) | (values >= labels_lib.NUM_PARTICLE_TYPES)
    problem = 'is not a particle type: ' + ', '.join(
        f'{i} ({particle})' for i, particle in enumerate(labels_lib.PARTICLE_NAMES))
  else:
    bad = ~np.isfinite(values).all(axis=tuple(range(1, values.ndim)))
    problem = 'is NaN or infinite'
  if bad.any():
    index = int(np.argmax(bad))
    raise ValueError(f'{where}: entry {index} ({values[index]}) {problem}')
  return values.astype(dtype)


def _checked_labels(labels: Mapping[str, Any], num: int, path: str) -> dict[str, np.ndarray]:
  """The three labels of `num` images, checked (`_checked_label`); nothing missing or extra."""
  names = set(labels)
  for name in sorted(names ^ set(labels_lib.LABEL_KEYS)):
    problem = 'unknown label' if name in names else 'missing'
    raise ValueError(f'{_where(path, name)}: {problem}; the labels are {labels_lib.LABEL_KEYS}')
  return {name: _checked_label(labels[name], name, num, _where(path, name))
          for name in labels_lib.LABEL_KEYS}


class AppendWriter:
  """Appends labelled images to the resizable datasets of a file made by `append_writer`."""

  def __init__(self, file: h5py.File, path: str, image_shape: tuple[int, int, int],
               chunk_images: int):
    self._path, self._image_shape, self._count = path, image_shape, 0
    self._datasets = {'images': _create_dataset(file, 'images', image_shape, np.float32,
                                                chunk_images)}
    for name in labels_lib.LABEL_KEYS:
      tail, _, dtype = _LABELS[name]
      self._datasets[name] = _create_dataset(file, name, tail, dtype, _LABEL_CHUNK)

  def __len__(self) -> int:
    return self._count

  def append(self, images: np.ndarray, labels: Mapping[str, np.ndarray]) -> None:
    """Appends a piece; checks it whole first (as the readers do), so a bad piece adds nothing.

    Args:
      images: (n, H, W, C) float32 in photoelectrons, (H, W, C) the writer's `image_shape`.
      labels: `particletype` (n,) int, `energy` (n,) float, `direction` (n, 2) float.
    """
    images, where = np.asarray(images), _where(self._path, 'images')
    _check_images_layout(images.shape, images.dtype, where)
    if images.shape[1:] != self._image_shape:
      raise ValueError(f'{where}: images of shape {images.shape[1:]}, the file holds '
                       f'{self._image_shape}')
    labels = {name: np.asarray(values) for name, values in labels.items()}
    pieces = {'images': images, **_checked_labels(labels, len(images), self._path)}
    _check_finite_images(images, where, offset=self._count)
    for name, values in pieces.items():
      self._datasets[name].resize(self._count + len(images), axis=0)
      self._datasets[name][self._count:] = values
    self._count += len(images)

  def check_not_empty(self) -> None:
    if not self._count:
      raise ValueError(f'{_where(self._path, "images")}: empty (0 images); a split needs at '
                       'least one')


def _create_dataset(file: h5py.File, name: str, tail: tuple[int, ...], dtype: type,
                    chunk_rows: int) -> h5py.Dataset:
  return file.create_dataset(name, shape=(0,) + tuple(tail), maxshape=(None,) + tuple(tail),
                             chunks=(chunk_rows,) + tuple(tail), dtype=dtype)


def _file_attributes(path: str, image_shape: tuple[int, ...], camera: camera_lib.Camera,
                     provenance: dict, source: str) -> dict[str, Any]:
  """The attributes of a new file, checked as a reader checks them."""
  try:
    provenance_json = json.dumps(provenance, sort_keys=True)
  except (TypeError, ValueError) as error:
    raise ValueError(f"{path}: attribute 'provenance': not JSON-serialisable ({error})") from error
  attributes = {'format': FORMAT, 'format_version': FORMAT_VERSION,
                'pixel_size_deg': camera.pixel_size_deg, 'image_shape': np.asarray(image_shape),
                'source': source, 'provenance': provenance_json,
                'tailcut_picture_pe': camera.picture, 'tailcut_boundary_pe': camera.boundary}
  _checked_attributes(attributes, path)
  return attributes


def fsync(path: str) -> None:
  """Flushes the file at `path` to the disk."""
  descriptor = os.open(path, os.O_RDONLY)
  try:
    os.fsync(descriptor)
  finally:
    os.close(descriptor)


@contextlib.contextmanager
def append_writer(path: PathLike, image_shape: tuple[int, int, int], *,
                  camera: camera_lib.Camera, provenance: dict, source: str,
                  chunk_images: int = 256) -> Iterator[AppendWriter]:
  """A new split file written in pieces (`.append(images, labels)`), for sets beyond memory.

  The file is `path + '.partial'` until the block ends without an exception and holds at least
  one image; it is then synced and renamed to `path` (replacing any file there). On an exception
  the partial file is removed and `path` is left untouched.

  Args:
    path: the file to write.
    image_shape: (H, W, C) of every image.
    camera: the camera's pixel size and tailcut levels.
    provenance: JSON-serialisable description of the origin (simulator version, seed, config...).
    source: short name of the origin, e.g. 'toy_iact'.
    chunk_images: images per HDF5 chunk.

  Returns:
    A context manager giving an `AppendWriter`.
  """
  path = os.fspath(path)
  image_shape = tuple(int(s) for s in image_shape)
  attributes = _file_attributes(path, image_shape, camera, provenance, source)
  if chunk_images < 1:
    raise ValueError(f'{_where(path, "images")}: chunk_images={chunk_images}, expected >= 1')
  partial = path + PARTIAL
  try:
    with h5py.File(partial, 'w') as file:
      file.attrs.update(attributes)
      writer = AppendWriter(file, path, image_shape, chunk_images)
      yield writer
      writer.check_not_empty()
    fsync(partial)
    os.replace(partial, path)
  finally:
    if os.path.exists(partial):
      os.remove(partial)


def write(path: PathLike, images: np.ndarray, labels: Mapping[str, np.ndarray], *,
          camera: camera_lib.Camera, provenance: dict, source: str,
          chunk_images: int = 256) -> None:
  """Writes a split file at once (atomically, as `append_writer`).

  Args:
    path: the file to write.
    images: (N, H, W, C) float32 in photoelectrons, N >= 1.
    labels: `particletype` (N,) int, `energy` (N,) float, `direction` (N, 2) float.
    camera: the camera's pixel size and tailcut levels.
    provenance: JSON-serialisable description of the origin.
    source: short name of the origin, e.g. 'toy_iact'.
    chunk_images: images per HDF5 chunk.
  """
  images = np.asarray(images)
  _check_images_layout(images.shape, images.dtype, _where(os.fspath(path), 'images'))
  with append_writer(path, images.shape[1:], camera=camera, provenance=provenance,
                     source=source, chunk_images=chunk_images) as writer:
    writer.append(images, labels)


def _check_row_range(start: int, stop: int, num: int) -> None:
  if not 0 <= start <= stop <= num:
    raise IndexError(f'rows [{start}, {stop}) are out of bounds for {num} images')


class LazyImages:
  """The images of an open split file, or its rows [start, stop), read from disk on indexing.

  Indexing with an int, a slice or a 1-d integer array (any order, repeats and negative indices
  allowed) returns a numpy array as numpy indexing of the rows would. Arrays are read at their
  sorted unique indices, one read per run of consecutive indices; for a compressed dataset (other
  writers), one read per chunk touched instead, so each chunk is decompressed at most once per
  call. `np.asarray(lazy)` loads the rows in one read; `rows` gives a view of a sub-range, still
  on disk.

  Attributes:
    shape: (stop - start, H, W, C).
    dtype: float32.
  """

  def __init__(self, file: h5py.File, start: int = 0, stop: int | None = None):
    """The rows [start, stop) of the file's dataset `images`.

    Args:
      file: the open file.
      start: the first row, 0 <= start <= stop.
      stop: one past the last row, <= N; None: N, the number of images in the file.
    """
    self._file, self._dataset = file, file['images']
    stop = len(self._dataset) if stop is None else stop
    _check_row_range(start, stop, len(self._dataset))
    self._start, self._stop = start, stop
    self.shape, self.dtype = (stop - start,) + self._dataset.shape[1:], self._dataset.dtype
    self._chunk_rows = self._dataset.chunks[0] if self._dataset.chunks else len(self._dataset)
    self._whole_chunks = self._dataset.id.get_create_plist().get_nfilters() > 0

  def __len__(self) -> int:
    return self.shape[0]

  def rows(self, start: int, stop: int) -> 'LazyImages':
    """A view of this array's rows [start, stop), 0 <= start <= stop <= len, on the same file."""
    _check_row_range(start, stop, len(self))
    return LazyImages(self._file, self._start + start, self._start + stop)

  def __getitem__(self, index: int | slice | np.ndarray) -> np.ndarray:
    if isinstance(index, (int, np.integer)):
      return self._dataset[int(self._file_rows(np.asarray([index]))[0])]
    if isinstance(index, slice):
      start, stop, step = index.indices(len(self))
      if step == 1:
        return self._dataset[self._start + start:self._start + max(start, stop)]
      index = np.arange(start, stop, step)
    unique, inverse = np.unique(self._file_rows(index), return_inverse=True)
    return self._read_sorted(unique)[inverse]

  def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
    if copy is False:
      raise ValueError('LazyImages: reading the images from the file always makes a copy')
    images = self._dataset[self._start:self._stop]
    return images if dtype is None else images.astype(dtype)

  def _file_rows(self, index: Any) -> np.ndarray:
    """The dataset rows (int64) of `index`, or IndexError / TypeError as numpy would raise."""
    rows = np.asarray(index)
    if isinstance(index, tuple) or rows.ndim != 1 or (rows.dtype.kind not in 'iu' and rows.size):
      raise TypeError(f'LazyImages index must be an int, a slice or a 1-d integer array, got '
                      f'{type(index).__name__} of shape {rows.shape} and dtype {rows.dtype}')
    rows = rows.astype(np.int64)
    outside = (rows < -len(self)) | (rows >= len(self))
    if outside.any():
      raise IndexError(f'index {rows[np.argmax(outside)]} is out of bounds for {len(self)} images')
    return self._start + np.where(rows < 0, rows + len(self), rows)

  def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
    """The images at sorted unique dataset `rows`: one slab read per group of `_groups`."""
    out = np.empty((len(rows),) + self.shape[1:], self.dtype)
    position = 0
    for group in self._groups(rows):
      block = self._dataset[group[0]:group[-1] + 1]
      out[position:position + len(group)] = block[group - group[0]]
      position += len(group)
    return out

  def _groups(self, rows: np.ndarray) -> list[np.ndarray]:
    """Sorted unique dataset `rows` split into the runs of consecutive rows, or by chunk if
    compressed (chunks of dataset rows, whatever the view)."""
    if not rows.size:
      return []
    keys = rows // self._chunk_rows if self._whole_chunks else rows - np.arange(len(rows))
    return np.split(rows, np.flatnonzero(np.diff(keys)) + 1)

  def close(self) -> None:
    """Closes the file, for every view of it; none can read afterwards."""
    self._file.close()


def open_file(path: PathLike, **options: Any) -> h5py.File:
  """The HDF5 file `path` opened for reading by h5py (with `options`).

  Raises:
    FileNotFoundError: no file at `path`.
    ValueError: not an HDF5 file, or not a readable one (truncated, damaged), naming `path`.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path}: no such file')
  if not h5py.is_hdf5(path):
    raise ValueError(f'{path}: not an HDF5 file')
  with readable(path):
    return h5py.File(path, 'r', **options)


@contextlib.contextmanager
def readable(path: PathLike) -> Iterator[None]:
  """Re-raises an error of HDF5 reading `path` (a truncated or damaged file: h5py raises
  OSError, RuntimeError or KeyError for HDF5's errors) as one ValueError naming it."""
  try:
    yield
  except (OSError, RuntimeError, KeyError) as error:
    raise ValueError(f'{path}: not a readable HDF5 file ({_reason(error)}); the file is damaged '
                     '(a copy cut short?): write or copy it again') from error


def _reason(error: BaseException) -> str:
  """HDF5's reason in an h5py error: 'truncated file: eof = 96, ...' of 'Unable to synchronously
  open file (truncated file: eof = 96, ...)'."""
  text = str(error.args[0]) if len(error.args) == 1 else str(error)
  found = re.search(r'\((.*)\)\s*$', text)
  return found.group(1) if found else text


def _open(path: PathLike) -> tuple[h5py.File, str]:
  """The file opened for reading (`open_file`, without chunk cache), and its path as str."""
  path = os.fspath(path)
  return open_file(path, rdcc_nbytes=0), path


def _dataset(file: h5py.File, name: str, path: str) -> h5py.Dataset:
  """Dataset `name` of `file`; missing or not a dataset: a ValueError naming it. (Unlike
  `file.get`, `in` raises on a damaged group rather than reporting the dataset missing.)"""
  if name not in file:
    raise ValueError(f'{_where(path, name)}: missing')
  item = file[name]
  if not isinstance(item, h5py.Dataset):
    raise ValueError(f'{_where(path, name)}: a {type(item).__name__}, not a dataset')
  return item


def _checked_contents(file: h5py.File, path: str) -> dict[str, np.ndarray]:
  """Checks everything but the image pixels; returns the labels (loaded)."""
  metadata = _checked_attributes(file.attrs, path)
  images, where = _dataset(file, 'images', path), _where(path, 'images')
  _check_images_layout(images.shape, images.dtype, where)
  if not len(images):
    raise ValueError(f'{where}: empty (0 images); a split needs at least one')
  if images.shape[1:] != metadata['image_shape']:
    raise ValueError(f'{where}: images of shape {images.shape[1:]}, but attribute '
                     f"'image_shape' says {metadata['image_shape']}")
  datasets = {name: _dataset(file, name, path) for name in labels_lib.LABEL_KEYS}
  return _checked_labels(datasets, len(images), path)


def validate(path: PathLike) -> None:
  """Checks a split file completely (images scanned in blocks, never loaded whole).

  Args:
    path: the file.

  Raises:
    FileNotFoundError: no file at `path`.
    ValueError: anything else wrong, with one message naming the file, dataset and problem.
  """
  file, path = _open(path)
  with file, readable(path):
    _checked_contents(file, path)
    _check_finite_images(file['images'], _where(path, 'images'))


def open_split(path: PathLike) -> Split:
  """A validated split whose images stay on disk (`LazyImages`, the file kept open).

  Args:
    path: the file.

  Returns:
    Split with `LazyImages` images and numpy labels (int32 / float32).
  """
  file, path = _open(path)
  try:
    with readable(path):
      labels = _checked_contents(file, path)
      _check_finite_images(file['images'], _where(path, 'images'))
  except BaseException:
    file.close()
    raise
  return Split(LazyImages(file), labels)


def read(path: PathLike) -> Split:
  """A validated split loaded into memory.

  Args:
    path: the file.

  Returns:
    Split with (N, H, W, C) float32 images and numpy labels (int32 / float32).
  """
  file, path = _open(path)
  with file, readable(path):
    labels = _checked_contents(file, path)
    images = file['images'][...]
  _check_finite_images(images, _where(path, 'images'))
  return Split(images, labels)


def read_metadata(path: PathLike) -> dict[str, Any]:
  """The file's attributes, validated (datasets are not checked; see `validate`).

  Args:
    path: the file.

  Returns:
    `format_version`, `pixel_size_deg`, `image_shape` (tuple), `source` and `provenance` (dict),
    and `tailcut_picture_pe`, `tailcut_boundary_pe` where the file has them.
  """
  file, path = _open(path)
  with file, readable(path):
    return _checked_attributes(file.attrs, path)


def read_camera(path: PathLike, default: camera_lib.Camera) -> camera_lib.Camera:
  """The camera of the file: its pixel size and tailcut levels (attributes validated).

  Args:
    path: the file.
    default: the camera whose tailcut levels stand in for those of a file without them (logged
      as a warning).

  Returns:
    The `Camera`.
  """
  metadata = read_metadata(path)
  if 'tailcut_picture_pe' not in metadata:
    logging.warning('%s has no tailcut levels (attributes %s): cleaning its images at %s and %s '
                    'pe', os.fspath(path), list(TAILCUT_ATTRIBUTES), default.picture,
                    default.boundary)
    return default._replace(pixel_size_deg=metadata['pixel_size_deg'])
  return camera_lib.Camera(metadata['pixel_size_deg'], metadata['tailcut_picture_pe'],
                           metadata['tailcut_boundary_pe'])

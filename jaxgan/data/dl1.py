"""Converts ctapipe DL1 files (what dl1-data-handler and CTLearn read) to the jaxgan HDF5 format.

  python -m jaxgan.data.dl1 --input=gamma.dl1.h5 [--input=proton.dl1.h5 ...] --output=train.h5 \
      --telescope=1 [--mapper=auto --chunk_events=1024 --tailcut_pe=6,3]

The images of one telescope in every input, with their labels, become one `jaxgan.data.hdf5`
split (events in input order, then table order). What is read (the layout `ctapipe-process`
writes, ctapipe >= 0.12; every unit from the table's `CTAFIELD_<column>_UNIT` attribute):

- `/dl1/event/telescope/images/tel_NNN`: obs_id, event_id, image (n_pixels,) in pe;
- `/simulation/event/subarray/shower`: obs_id, event_id, true_energy, true_alt, true_az,
  true_shower_primary_id;
- `/configuration/telescope/pointing/tel_NNN`: obs_id, telescope_pointing_altitude and _azimuth;
- `/configuration/instrument/subarray/layout`: tel_id, camera_index, optics_index;
- `/configuration/instrument/telescope/camera/geometry_<camera_index>`: pix_x, pix_y, pix_area,
  attributes CAM_ID, PIX_TYPE, PIX_ROT, CAM_ROT;
- `/configuration/instrument/telescope/optics`: effective_focal_length (equivalent_focal_length
  where it is not set), at row optics_index.

Labels (`jaxgan.labels`): `particletype` 1 for true_shower_primary_id 0 (gamma), 0 for 101
(proton); other primaries (electrons 1, helium 402...) are skipped and counted in the log.
`energy` log10(true_energy / TeV). `direction` the true direction relative to the telescope
pointing, degrees, in the axes of the image: ctapipe's CameraFrame (x, y) over the focal length,
i.e. (fov_lat, fov_lon) of its TelescopeFrame (offsets along altitude and azimuth, its
equidistant projection), expressed in the image's pixel coordinates, so that the source lies at
pixel (i, j) = (y / p + c, x / p + c), c = (n - 1) / 2 (the convention of `toy_iact`).

Images (`--mapper`): `grid` (built in; what `auto` takes for square pixels) puts each pixel of a
camera of square pixels on an axis-aligned grid into one image pixel, losslessly, in the smallest
square image centred on the optical axis (grid nodes without a pixel are 0); row i grows with y.
Any dl1-data-handler `ImageMapper` class name (`auto`: `OversamplingMapper` for other cameras,
which splits each pixel into 4 and keeps the total charge) needs the `physics` extra; its images
(top row first) are flipped so that row i grows with y, and, as its grids may be rotated (by the
pixel rotation) or have rectangular pixels, the affine map from image pixel to camera position is
fitted by mapping the pixel coordinates themselves: `pixel_size_deg` is the equal-area pixel size
and the direction labels pass through that map, so source positions and images stay consistent.

Decisions. The tables are read with h5py alone (not dl1-data-handler's reader, which needs
ctapipe, astropy and pandas), so square cameras convert without dl1-data-handler. Images are read
in chunks of `chunk_events` rows; the shower table (6 numbers per event) is loaded whole.
dl1-data-handler 0.14.6 installs alongside the pinned packages (with ctapipe 0.25.1), but its
`SquareMapper` fails on a square camera without gaps, and all its other mappers take hexagonal
pixels only: hence the built-in `grid`. ctapipe always compresses the instrument tables with
Blosc (HDF5 filter 32001), which h5py decodes once `hdf5plugin` (in the `physics` extra) is
installed; it is imported when present, and a file it would be needed for is refused by name.
Non-finite pixels (unavailable pixels) are set to 0 and counted in the log. Any other problem
with an input (a missing dataset, column or unit, a wrong shape, an image without its shower or
pointing row) raises one ValueError naming the file, the dataset and the problem; a missing file
raises FileNotFoundError; the output is then not written.
"""

import contextlib
import importlib
import math
import os
from typing import Any, NamedTuple, Sequence

from absl import app
from absl import flags
from absl import logging
import h5py
import numpy as np
from scipy import sparse
from scipy import spatial

from jaxgan import camera as camera_lib
from jaxgan import labels as labels_lib
from jaxgan.data import hdf5

with contextlib.suppress(ImportError):  # registers Blosc (ctapipe's compression) with h5py
  importlib.import_module('hdf5plugin')

IMAGES = '/dl1/event/telescope/images/tel_{:03d}'
SHOWERS = '/simulation/event/subarray/shower'
POINTING = '/configuration/telescope/pointing/tel_{:03d}'
LAYOUT = '/configuration/instrument/subarray/layout'
GEOMETRY = '/configuration/instrument/telescope/camera/geometry_{}'
OPTICS = '/configuration/instrument/telescope/optics'
# true_shower_primary_id (CORSIKA: 0 gamma, 100 A + Z nuclei) -> particletype.
PARTICLES = {0: labels_lib.PARTICLE_NAMES.index('gamma'),
             101: labels_lib.PARTICLE_NAMES.index('proton')}
# Unit attribute -> (the unit used here, factor to it).
_UNITS = {'TeV': ('TeV', 1.0), 'GeV': ('TeV', 1e-3), 'deg': ('deg', 1.0),
          'rad': ('deg', 180.0 / math.pi), 'm': ('m', 1.0), 'cm': ('m', 0.01), 'mm': ('m', 1e-3),
          'm**2': ('m**2', 1.0)}
TAILCUT_PE = (6.0, 3.0)  # (picture, boundary) stored with the images: MAGIC's standard levels
_ON_GRID = 0.05  # a grid camera's pixel centres lie within this fraction of a pixel of the nodes


class Camera(NamedTuple):
  """A telescope's camera: pixel positions in CameraFrame (cam_rotation undone), metres."""
  name: str
  pix_x: np.ndarray
  pix_y: np.ndarray
  pix_area: np.ndarray
  pix_type: str
  pix_rotation_deg: float
  focal_length_m: float
  where: str  # the file and geometry dataset, for error messages


class Mapping(NamedTuple):
  """Camera pixels to a (H, W) image: image = charges @ table, row i growing with y.

  `to_camera` (3, 2): the camera position (metres) of image pixel (i, j) is [j, i, 1] @ to_camera.
  """
  table: sparse.csr_matrix
  shape: tuple[int, int]
  to_camera: np.ndarray
  name: str


def _problem(path: str, name: str, problem: str) -> ValueError:
  return ValueError(f'{path}: dataset {name!r}: {problem}')


def _table(file: h5py.File, name: str, columns: Sequence[str]) -> h5py.Dataset:
  """The table (compound dataset) `name`, checked to hold `columns` and to be readable here."""
  table = file.get(name)
  if not isinstance(table, h5py.Dataset) or table.dtype.names is None:
    problem = 'missing' if table is None else 'not a table (compound dataset)'
    raise _problem(file.filename, name, f'{problem}; is this a ctapipe DL1 file?')
  for column in columns:
    if column not in table.dtype.names:
      raise _problem(file.filename, name, f'no column {column!r} (columns: {table.dtype.names})')
  plist = table.id.get_create_plist()
  for code in (plist.get_filter(k)[0] for k in range(plist.get_nfilters())):
    if not h5py.h5z.filter_avail(code):
      raise _problem(file.filename, name, f'compressed with HDF5 filter {code}, which this h5py '
                     'cannot decode: pip install hdf5plugin (the `physics` extra)')
  return table


def _in_unit(table: h5py.Dataset, column: str, values: np.ndarray, unit: str) -> np.ndarray:
  """`values` of `column` converted to `unit`, from the table's CTAFIELD_<k>_UNIT attribute."""
  attribute = f'CTAFIELD_{table.dtype.names.index(column)}_UNIT'
  stored = table.attrs.get(attribute)
  stored = stored.decode() if isinstance(stored, bytes) else stored
  target, factor = _UNITS.get(stored, (None, 0.0))
  if target != unit:
    raise _problem(table.file.filename, table.name, f'column {column!r} in unit {stored!r} '
                   f'(attribute {attribute}), expected {unit} or a convertible unit')
  return np.asarray(values, np.float64) * factor


def _attribute(table: h5py.Dataset, name: str) -> Any:
  if name not in table.attrs:
    raise _problem(table.file.filename, table.name, f'attribute {name!r} missing')
  value = table.attrs[name]
  return value.decode() if isinstance(value, bytes) else value


def _layout_row(file: h5py.File, telescope: int) -> np.void:
  layout = _table(file, LAYOUT, ('tel_id', 'camera_index', 'optics_index'))[...]
  rows = np.flatnonzero(layout['tel_id'] == telescope)
  if not len(rows):
    raise _problem(file.filename, LAYOUT, f'no telescope {telescope} (telescopes: '
                   f'{sorted(int(t) for t in layout["tel_id"])})')
  return layout[rows[0]]


def _focal_length_m(file: h5py.File, optics_index: int) -> float:
  table = _table(file, OPTICS, ('effective_focal_length', 'equivalent_focal_length'))
  if not 0 <= optics_index < len(table):
    raise _problem(file.filename, OPTICS, f'no row {optics_index} (optics_index of the layout)')
  for column in ('effective_focal_length', 'equivalent_focal_length'):
    focal = float(_in_unit(table, column, table.fields(column)[optics_index], 'm'))
    if math.isfinite(focal) and focal > 0:
      return focal
  raise _problem(file.filename, OPTICS, f'row {optics_index}: no positive focal length')


def read_camera(file: h5py.File, telescope: int) -> Camera:
  """The camera of `telescope` in an open DL1 file (rotated by -CAM_ROT, as ctapipe does)."""
  row = _layout_row(file, telescope)
  name = GEOMETRY.format(int(row['camera_index']))
  table = _table(file, name, ('pix_x', 'pix_y', 'pix_area'))
  pixels = table[...]
  x, y = (_in_unit(table, c, pixels[c], 'm') for c in ('pix_x', 'pix_y'))
  rotation = math.radians(float(_attribute(table, 'CAM_ROT')))
  x, y = (x * math.cos(rotation) + y * math.sin(rotation),
          -x * math.sin(rotation) + y * math.cos(rotation))
  return Camera(name=str(_attribute(table, 'CAM_ID')), pix_x=x, pix_y=y,
                pix_area=_in_unit(table, 'pix_area', pixels['pix_area'], 'm**2'),
                pix_type=str(_attribute(table, 'PIX_TYPE')),
                pix_rotation_deg=float(_attribute(table, 'PIX_ROT')) - math.degrees(rotation),
                focal_length_m=_focal_length_m(file, int(row['optics_index'])),
                where=f'{file.filename}: dataset {name!r}')


def _grid_axis(coordinates: np.ndarray, pitch: float, where: str) -> tuple[np.ndarray, float]:
  """Grid coordinates (pixel units from the optical axis) and 0 or 0.5: the axis at a node or
  between two; raises unless every pixel lies on such a grid."""
  units = coordinates / pitch
  offset = 0.5 if abs(units[0] - np.round(units[0])) > 0.25 else 0.0
  if np.abs(units - offset - np.round(units - offset)).max() > _ON_GRID:
    raise ValueError(f'{where}: pixels not on a regular grid centred on the optical axis; '
                     'use a dl1-data-handler --mapper')
  return np.round(units - offset) + offset, offset


def grid_mapping(camera: Camera) -> Mapping:
  """Each pixel of a camera of square pixels on an axis-aligned grid to one image pixel."""
  if camera.pix_type != 'square':
    raise ValueError(f"{camera.where}: {camera.pix_type!r} pixels; the 'grid' mapper takes "
                     'square pixels: use a dl1-data-handler --mapper (the `physics` extra)')
  positions = np.stack([camera.pix_x, camera.pix_y], axis=1)
  pitch = float(np.median(spatial.cKDTree(positions).query(positions, k=2)[0][:, 1]))
  (u, offset_x), (v, offset_y) = (_grid_axis(c, pitch, camera.where)
                                  for c in (camera.pix_x, camera.pix_y))
  if offset_x != offset_y or len(set(zip(u, v))) < len(u):
    raise ValueError(f'{camera.where}: not one pixel per node of a grid centred on the optical '
                     'axis; use a dl1-data-handler --mapper')
  size = int(round(2 * max(np.abs(u).max(), np.abs(v).max()))) + 1
  centre = (size - 1) / 2
  columns = np.round((v + centre) * size + u + centre).astype(np.int64)
  table = sparse.csr_matrix((np.ones(len(u), np.float32), (np.arange(len(u)), columns)),
                            shape=(len(u), size * size))
  to_camera = np.array([[pitch, 0.0], [0.0, pitch], [-centre * pitch, -centre * pitch]])
  return Mapping(table, (size, size), to_camera, 'grid')


def _fitted_to_camera(camera: Camera, table: sparse.csr_matrix, size: int) -> np.ndarray:
  """The affine map image pixel -> camera position (3, 2), fitted on the images of the pixel
  coordinates over the image pixels that the camera covers."""
  weight = table.T @ np.ones(table.shape[0])
  covered = weight > 0.5 * weight.max()
  position = np.stack([table.T @ camera.pix_x, table.T @ camera.pix_y], axis=1)[covered]
  rows, columns = np.divmod(np.flatnonzero(covered), size)
  design = np.stack([columns, rows, np.ones(len(rows))], axis=1)
  return np.linalg.lstsq(design, position / weight[covered, None], rcond=None)[0]


def dl1dh_mapping(camera: Camera, name: str) -> Mapping:
  """A dl1-data-handler ImageMapper (class `name`), its image flipped so row i grows with y."""
  try:
    image_mapper = importlib.import_module('dl1_data_handler.image_mapper')
    units = importlib.import_module('astropy.units')
    instrument = importlib.import_module('ctapipe.instrument')
  except ImportError as error:
    raise ImportError(f'--mapper={name} needs dl1-data-handler: pip install '
                      '"jaxgan[physics]"') from error
  mapper_class = getattr(image_mapper, name, None)
  if not (isinstance(mapper_class, type) and issubclass(mapper_class, image_mapper.ImageMapper)):
    raise ValueError(f"unknown mapper {name!r}: 'auto', 'grid' or one of dl1_data_handler."
                     f'image_mapper.__all__ {image_mapper.__all__[1:]}')
  geometry = instrument.CameraGeometry(
      camera.name, np.arange(len(camera.pix_x)), camera.pix_x * units.m,
      camera.pix_y * units.m, camera.pix_area * units.m ** 2,
      pix_type=instrument.PixelShape(camera.pix_type),
      pix_rotation=camera.pix_rotation_deg * units.deg)
  mapper = mapper_class(geometry=geometry)
  size = mapper.image_shape
  flip = np.arange(size * size).reshape(size, size)[::-1].ravel()
  table = sparse.csr_matrix(mapper.mapping_table)[:, flip]
  return Mapping(table, (size, size), _fitted_to_camera(camera, table, size), name)


def camera_mapping(camera: Camera, mapper: str) -> Mapping:
  """The mapping `mapper` names: 'grid', a dl1-data-handler ImageMapper class, or 'auto'."""
  if mapper == 'auto':
    mapper = 'grid' if camera.pix_type == 'square' else 'OversamplingMapper'
  return grid_mapping(camera) if mapper == 'grid' else dl1dh_mapping(camera, mapper)


def pixel_size_deg(mapping: Mapping, camera: Camera) -> float:
  """The image pixel's field of view: side of the square of its area, degrees."""
  area = abs(np.linalg.det(mapping.to_camera[:2]))
  return math.degrees(math.sqrt(area) / camera.focal_length_m)


def offsets_rad(alt: np.ndarray, az: np.ndarray, pointing_alt: np.ndarray,
                pointing_az: np.ndarray) -> np.ndarray:
  """(n, 2) (fov_lat, fov_lon) of ctapipe's TelescopeFrame (astropy's SkyOffsetFrame of AltAz)
  of directions (alt, az) from the pointings, radians; all inputs in radians."""
  delta = az - pointing_az
  lon = np.arctan2(np.cos(alt) * np.sin(delta), np.cos(pointing_alt) * np.cos(alt) * np.cos(delta)
                   + np.sin(pointing_alt) * np.sin(alt))
  lat = np.arcsin(np.clip(np.cos(pointing_alt) * np.sin(alt)
                          - np.sin(pointing_alt) * np.cos(alt) * np.cos(delta), -1.0, 1.0))
  return np.stack([lat, lon], axis=1)


def image_directions(mapping: Mapping, camera: Camera, offsets: np.ndarray) -> np.ndarray:
  """`direction` labels (n, 2), degrees: the camera positions f (fov_lat, fov_lon) of the sources
  in the image's pixel coordinates ((j - c) p, (i - c) p)."""
  positions = camera.focal_length_m * offsets
  pixels = np.linalg.solve(mapping.to_camera[:2].T, (positions - mapping.to_camera[2]).T).T
  centre = (np.array(mapping.shape[::-1]) - 1) / 2
  return (pixels - centre) * pixel_size_deg(mapping, camera)


def _keys(obs_id: np.ndarray, event_id: np.ndarray) -> np.ndarray:
  return obs_id.astype(np.int64) * (1 << 32) + event_id.astype(np.int64)


def _lookup(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, int | None]:
  """Indices of `wanted` in sorted `keys`, and the first wanted key missing there (or None)."""
  index = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
  missing = keys[index] != wanted if len(keys) else np.ones(len(wanted), bool)
  return index, (int(wanted[np.argmax(missing)]) if missing.any() else None)


class _Source(NamedTuple):
  """An input's labels: showers sorted by (obs_id, event_id) key, the pointing by obs_id."""
  path: str
  shower_keys: np.ndarray
  energy_tev: np.ndarray
  alt_rad: np.ndarray
  az_rad: np.ndarray
  primary: np.ndarray
  pointing_obs: np.ndarray
  pointing_rad: np.ndarray  # (n, 2) altitude, azimuth


def _read_showers(file: h5py.File) -> dict[str, np.ndarray]:
  columns = ('obs_id', 'event_id', 'true_energy', 'true_alt', 'true_az', 'true_shower_primary_id')
  table = _table(file, SHOWERS, columns)
  rows = table.fields(list(columns))[...]
  if len(rows) and (rows['event_id'].min() < 0 or rows['event_id'].max() >= 1 << 32
                    or rows['obs_id'].min() < 0 or rows['obs_id'].max() >= 1 << 31):
    raise _problem(file.filename, SHOWERS, 'obs_id or event_id outside [0, 2^31) / [0, 2^32)')
  rows = rows[np.argsort(_keys(rows['obs_id'], rows['event_id']), kind='stable')]
  return {'shower_keys': _keys(rows['obs_id'], rows['event_id']),
          'energy_tev': _in_unit(table, 'true_energy', rows['true_energy'], 'TeV'),
          'alt_rad': np.radians(_in_unit(table, 'true_alt', rows['true_alt'], 'deg')),
          'az_rad': np.radians(_in_unit(table, 'true_az', rows['true_az'], 'deg')),
          'primary': rows['true_shower_primary_id'].astype(np.int64)}


def _read_source(file: h5py.File, telescope: int) -> _Source:
  columns = ('obs_id', 'telescope_pointing_altitude', 'telescope_pointing_azimuth')
  table = _table(file, POINTING.format(telescope), columns)
  rows = np.sort(table.fields(list(columns))[...], order='obs_id')
  pointing = [np.radians(_in_unit(table, column, rows[column], 'deg')) for column in columns[1:]]
  return _Source(path=file.filename, **_read_showers(file),
                 pointing_obs=rows['obs_id'].astype(np.int64), pointing_rad=np.stack(pointing, 1))


def _chunk_labels(rows: np.ndarray, source: _Source, telescope: int, camera: Camera,
                  mapping: Mapping) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """The primary ids of a chunk of image rows, and the labels of its known primaries."""
  shower, missing = _lookup(source.shower_keys, _keys(rows['obs_id'], rows['event_id']))
  if missing is not None:
    obs, event = divmod(missing, 1 << 32)
    raise _problem(source.path, IMAGES.format(telescope), f'obs_id {obs}, event_id {event} '
                   f'has no row in {SHOWERS!r}')
  pointing, missing = _lookup(source.pointing_obs, rows['obs_id'].astype(np.int64))
  if missing is not None:
    raise _problem(source.path, POINTING.format(telescope), f'no row for obs_id {missing}')
  primary = source.primary[shower]
  keep = np.isin(primary, list(PARTICLES))
  shower, pointing = shower[keep], source.pointing_rad[pointing[keep]]
  offsets = offsets_rad(source.alt_rad[shower], source.az_rad[shower], pointing[:, 0],
                        pointing[:, 1])
  return primary, {'particletype': np.array([PARTICLES[p] for p in primary[keep]], np.int32),
                   'energy': np.log10(source.energy_tev[shower]),
                   'direction': image_directions(mapping, camera, offsets)}


def _chunk_images(charges: np.ndarray, mapping: Mapping) -> tuple[np.ndarray, int]:
  """(n, H, W, 1) float32 images of (n, n_pixels) charges; and the number of non-finite
  charges (unavailable pixels), mapped as 0."""
  bad = ~np.isfinite(charges)
  images = (mapping.table.T @ np.where(bad, 0.0, charges).T).T
  return images.reshape((-1,) + mapping.shape + (1,)).astype(np.float32), int(bad.sum())


def _same_camera(a: Camera, b: Camera) -> bool:
  arrays = ('pix_x', 'pix_y', 'pix_area')
  blank = dict.fromkeys(arrays + ('where',))
  return (a._replace(**blank) == b._replace(**blank)
          and all(np.array_equal(getattr(a, name), getattr(b, name)) for name in arrays))


class Counts(NamedTuple):
  """Events of one input: written gammas and protons, skipped primaries, non-finite pixels."""
  gammas: int
  protons: int
  skipped: dict[int, int]  # true_shower_primary_id -> events
  non_finite_pixels: int


def _image_table(file: h5py.File, telescope: int, camera: Camera) -> h5py.Dataset:
  name = IMAGES.format(telescope)
  table = _table(file, name, ('obs_id', 'event_id', 'image'))
  if table.dtype['image'].shape != (len(camera.pix_x),):
    raise _problem(file.filename, name, f"column 'image' of shape {table.dtype['image'].shape},"
                   f' expected ({len(camera.pix_x)},): the pixels of {camera.where}')
  return table


def _convert_file(path: str, telescope: int, camera: Camera, mapping: Mapping,
                  writer: hdf5.AppendWriter, chunk_events: int) -> Counts:
  """Appends the events of one input, chunk by chunk; its camera must be `camera`."""
  with hdf5.open_file(path) as file:
    if not _same_camera(read_camera(file, telescope), camera):
      raise ValueError(f'{path}: the camera of telescope {telescope} differs from the one in '
                       f'{camera.where}')
    source, table = _read_source(file, telescope), _image_table(file, telescope, camera)
    primaries, types, bad = [], [], 0
    for start in range(0, len(table), chunk_events):
      rows = table.fields(['obs_id', 'event_id', 'image'])[start:start + chunk_events]
      primary, labels = _chunk_labels(rows, source, telescope, camera, mapping)
      images, chunk_bad = _chunk_images(rows['image'][np.isin(primary, list(PARTICLES))], mapping)
      if len(images):
        writer.append(images, labels)
      primaries.append(primary)
      types.append(labels['particletype'])
      bad += chunk_bad
  return _counts(np.concatenate(primaries or [np.zeros(0, np.int64)]),
                 np.concatenate(types or [np.zeros(0, np.int32)]), bad)


def _counts(primary: np.ndarray, particletype: np.ndarray, bad: int) -> Counts:
  values, numbers = np.unique(primary[~np.isin(primary, list(PARTICLES))], return_counts=True)
  gamma = PARTICLES[0]
  return Counts(int((particletype == gamma).sum()), int((particletype != gamma).sum()),
                dict(zip(values.tolist(), numbers.tolist())), bad)


def convert(inputs: Sequence[str], output: str, telescope: int, mapper: str = 'auto',
            chunk_events: int = 1024,
            tailcut_pe: tuple[float, float] = TAILCUT_PE) -> list[Counts]:
  """Converts the images of `telescope` in DL1 files into one jaxgan HDF5 split.

  Args:
    inputs: ctapipe DL1 files (the same camera for the telescope in all).
    output: the jaxgan HDF5 file to write (atomically, `hdf5.append_writer`).
    telescope: the telescope id (tel_id).
    mapper: 'auto', 'grid' or a dl1-data-handler ImageMapper class name (module docstring).
    chunk_events: image rows read at a time.
    tailcut_pe: the (picture, boundary) cleaning levels of the camera, stored in the output
      (`hdf5.read_camera`).

  Returns:
    The counts of each input, in order.
  """
  if not inputs:
    raise ValueError('no input file')
  with hdf5.open_file(inputs[0]) as file:
    camera = read_camera(file, telescope)
  mapping = camera_mapping(camera, mapper)
  provenance = {'converter': 'jaxgan.data.dl1', 'inputs': [os.fspath(p) for p in inputs],
                'telescope': telescope, 'camera': camera.name, 'mapper': mapping.name,
                'focal_length_m': camera.focal_length_m,
                'image_pixel_to_camera_m': mapping.to_camera.tolist()}
  image_camera = camera_lib.Camera(pixel_size_deg(mapping, camera), *map(float, tailcut_pe))
  with hdf5.append_writer(output, mapping.shape + (1,), provenance=provenance,
                          camera=image_camera, source='ctapipe_dl1') as writer:
    counts = [_convert_file(path, telescope, camera, mapping, writer, chunk_events)
              for path in inputs]
  for path, count in zip(inputs, counts):
    logging.info('%s: %d gammas, %d protons; skipped (primary id: events) %s; %d non-finite '
                 'pixels set to 0', path, count.gammas, count.protons, count.skipped,
                 count.non_finite_pixels)
  logging.info('Wrote %s: %d events, %s images, pixel %.4f deg', output,
               sum(c.gammas + c.protons for c in counts), mapping.shape,
               image_camera.pixel_size_deg)
  return counts


def _define_flags() -> None:
  """The flags of `main`; defined only when this module is the program."""
  flags.DEFINE_multi_string('input', None, 'A ctapipe DL1 file (repeat the flag for several).',
                            required=True)
  flags.DEFINE_string('output', None, 'The HDF5 file to write (jaxgan.data.hdf5 format).',
                      required=True)
  flags.DEFINE_integer('telescope', None, 'The telescope id (tel_id) whose images to convert.',
                       required=True)
  flags.DEFINE_string('mapper', 'auto', "Camera to square image: 'grid' (square pixels), a "
                      "dl1-data-handler ImageMapper class name, or 'auto'.")
  flags.DEFINE_integer('chunk_events', 1024, 'Image rows read at a time.', lower_bound=1)
  flags.DEFINE_list('tailcut_pe', [str(level) for level in TAILCUT_PE],
                    'The camera\'s tailcut cleaning levels "picture,boundary" in pe, stored with '
                    'the images for the samples and the evaluation.')


def main(argv: Sequence[str]) -> None:
  """Converts the files the flags name (`convert`)."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  values = flags.FLAGS
  if len(values.tailcut_pe) != 2:
    raise app.UsageError(f'--tailcut_pe={values.tailcut_pe}: give two levels, picture,boundary')
  convert(values.input, values.output, values.telescope, values.mapper, values.chunk_events,
          tuple(float(level) for level in values.tailcut_pe))


if __name__ == '__main__':
  _define_flags()
  app.run(main)

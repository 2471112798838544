"""Generated telescope images for chosen labels, written in the jaxgan HDF5 format.

The labels are either exactly those of a jaxgan HDF5 file (`file_labels`: the source's protocol
generates for the validation labels) or draws, with replacement, from the run's training labels
(`training_labels`, `draw_labels`), optionally only one particle type and log10(E / TeV) in
[energy_min, energy_max] (`filter_labels`). The images are in photoelectrons
(`Normalisation.inverse` of the run), with their labels beside them; the EMA generator is used
when the run keeps one (`GANState.sampling_variables`). `generate_from_run` does all of it for
`python -m jaxgan.generate`.

Generation streams: one batch at a time is generated, converted and appended to the file
(`hdf5.append_writer`), so any number of images fits in memory; the file appears under its name
only when complete. Example i's latent vector is drawn from `fold_in(key(seed), i)`, so the
images depend on (seed, labels) and not on the batch size. The generator's throughput (images/s,
compilation excluded: the program is compiled before the clock starts) is logged and stored, with
the workdir, checkpoint step, seed and label source, in the file's `provenance` attribute under
'generator'.

Interruptions leave no litter. Until complete, the output is written as
`<output>.generating.<host>.<pid>[.partial]` (`_staging`). Within `exit_on_signal` (the
command line), SIGTERM and Ctrl-C remove that file and end the process with 128 + the signal
(143, 130), as `jaxgan.main` does; an earlier file under the output's name is kept as it was.
What an uncatchable end (SIGKILL, a crash) leaves is removed by the next generation of the same
output: the name tells whether its writer is gone (no process of that pid on this host), so a
concurrent generation's file is left alone (two generations of one output write separate files;
the last to finish gives the output), and so are other hosts' files (on a shared disk, this
host cannot tell).
"""

import contextlib
import functools
import json
import os
import re
import signal
import socket
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import flax.linen as nn
import h5py
import jax
import ml_collections
import numpy as np
from absl import logging

from jaxgan import checkpoint
from jaxgan import labels as labels_lib
from jaxgan import logs
from jaxgan.data import dataset as data_lib
from jaxgan.data import hdf5

SOURCE = 'jaxgan.generate'  # the `source` attribute of the files written here
PROGRESS_EVERY_S = 5.0  # seconds between progress lines
DEFAULT_BATCH_SIZE = 4096  # images generated at once by `generate_from_run`
STAGING = '.generating'  # `_staging`: the output's name + this + '.<host>.<pid>'
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # `exit_on_signal`

Labels = dict[str, np.ndarray]


def training_labels(config: ml_collections.ConfigDict) -> Labels:
  """The labels of the run's training split (`data_lib.load_splits` of its data config)."""
  train_split, _ = data_lib.load_splits(config.data)
  return {name: np.asarray(values) for name, values in train_split.labels.items()}


def file_labels(path: str) -> Labels:
  """The labels of a jaxgan HDF5 file (the whole file is validated first)."""
  split = hdf5.open_split(path)
  split.images.close()
  return split.labels


def filter_labels(labels: Labels, *, particle: str | None = None, energy_min: float | None = None,
                  energy_max: float | None = None) -> Labels:
  """The labels of one particle type ('gamma', 'proton'; None: both) with log10(E / TeV) in
  [energy_min, energy_max] (None: unbounded); fails when none is left."""
  keep = np.ones(len(labels['energy']), bool)
  if particle is not None:
    keep &= labels['particletype'] == labels_lib.PARTICLE_NAMES.index(particle)
  if energy_min is not None:
    keep &= labels['energy'] >= energy_min
  if energy_max is not None:
    keep &= labels['energy'] <= energy_max
  if not keep.any():
    energies = labels['energy']
    raise ValueError(f'no label left after the filters particle={particle}, energy in '
                     f'[{energy_min}, {energy_max}] (log10 TeV): the {len(energies)} labels have '
                     f'energies in [{energies.min():.3g}, {energies.max():.3g}]')
  return {name: values[keep] for name, values in labels.items()}


def draw_labels(labels: Labels, num: int, seed: int) -> Labels:
  """`num` labels drawn uniformly with replacement from `labels`, determined by `seed`."""
  rows = np.random.default_rng(seed).integers(0, len(labels['energy']), num)
  return {name: values[rows] for name, values in labels.items()}


def check_request(labels_path: str | None, num: int | None, particle: str | None,
                  energy_min: float | None, energy_max: float | None) -> None:
  """Fails, with one message, on a combination of command-line choices that makes no sense."""
  if (labels_path is None) == (num is None):
    raise ValueError('give exactly one of --labels=FILE and --num=N')
  filters = particle is not None or energy_min is not None or energy_max is not None
  if labels_path is not None and filters:
    raise ValueError('--particle, --energy_min and --energy_max filter the training labels '
                     'drawn by --num; --labels takes a file\'s labels as they are')
  if num is not None and num < 1:
    raise ValueError(f'--num={num}: give at least 1')
  if energy_min is not None and energy_max is not None and energy_min > energy_max:
    raise ValueError(f'--energy_min={energy_min} exceeds --energy_max={energy_max}')


def _same_file(path: str, other: str) -> bool:
  """Whether two paths name one file: the same real path (symlinks and relative parts
  resolved), or, where both exist, the same inode (hard links)."""
  if os.path.realpath(path) == os.path.realpath(other):
    return True
  return os.path.exists(path) and os.path.exists(other) and os.path.samefile(path, other)


def check_output(output: str, inputs: Sequence[str]) -> None:
  """Refuses an `output` that is one of the command's `inputs` (empty entries are skipped),
  before anything is generated: writing it would replace the input."""
  for path in inputs:
    if path and _same_file(output, path):
      raise ValueError(f'--output={output} is {path}, an input of this command: give another '
                       'output file')


def run_inputs(workdir: str, config: ml_collections.ConfigDict,
               labels_file: str | None) -> list[str]:
  """The files that generating from the run in `workdir` reads: its labels file, its data
  files and its config and data facts."""
  return [labels_file or '', config.data.path, config.data.validation_path,
          os.path.join(workdir, 'config.json'), os.path.join(workdir, 'dataset.json')]


def _checked_labels(labels: Labels) -> Labels:
  """`labels` checked (the telescope labels, N >= 1 entries of each) and cast to the dtypes the
  generator is compiled for: `particletype` (N,) int32, `energy` (N,), `direction` (N, 2)."""
  if set(labels) != set(labels_lib.LABEL_KEYS):
    raise ValueError(f'labels {sorted(labels)}: expected {list(labels_lib.LABEL_KEYS)}')
  num = len(labels['energy'])
  checked = {}
  for label in labels_lib.TELESCOPE:
    values = np.asarray(labels[label.name], np.int32 if label.num_classes else np.float32)
    shape = (num,) + ((label.size,) if label.size > 1 else ())
    if not num or values.shape != shape:
      raise ValueError(f'label {label.name!r} of shape {values.shape}, expected {shape} with '
                       f'N >= 1 (N = {num} energies)')
    checked[label.name] = values
  return checked


def latents(key: jax.Array, indices: jax.Array, latent_dim: int) -> jax.Array:
  """The latent vectors of examples `indices`: example i's from `fold_in(key, i)`."""
  return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (latent_dim,)))(indices)


@functools.partial(jax.jit, static_argnames=('module', 'latent_dim', 'label_dim'))
def _generate_batch(variables: Any, key: jax.Array, indices: jax.Array, labels: Labels, *,
                    module: nn.Module, latent_dim: int, label_dim: int) -> jax.Array:
  """Network-unit images of examples `indices` with `labels`, by the generator `module`."""
  label_vector = labels_lib.label_vector(labels, labels_lib.TELESCOPE)[:, :label_dim]
  return module.apply(variables, latents(key, indices, latent_dim), label_vector, train=False)


def _compiled_generate(generator: checkpoint.TrainedGenerator, key: jax.Array,
                       batch_size: int) -> Callable[..., jax.Array]:
  """The generator on one batch, (indices, labels) -> network-unit images, compiled now: once
  per architecture and batch size in a process (evaluations during training reuse it)."""
  indices = np.zeros(batch_size, np.int32)
  labels = _checked_labels({'particletype': np.zeros(batch_size), 'energy': np.zeros(batch_size),
                            'direction': np.zeros((batch_size, 2))})
  variables = jax.device_put(generator.variables)
  compiled = _generate_batch.lower(variables, key, indices, labels, module=generator.module,
                                   latent_dim=generator.latent_dim,
                                   label_dim=generator.label_dim).compile()
  return lambda indices, labels: compiled(variables, key, indices, labels)


class _Progress:
  """A progress line every `PROGRESS_EVERY_S` seconds and at the end."""

  def __init__(self, total: int):
    self._total, self._start = total, time.perf_counter()
    self._last = self._start

  def report(self, done: int) -> None:
    now = time.perf_counter()
    if now - self._last < PROGRESS_EVERY_S and done < self._total:
      return
    self._last = now
    rate = done / max(now - self._start, 1e-9)
    logging.info('generated %d/%d images (%.0f%%) | %.0f images/s written | ETA %s', done,
                 self._total, 100 * done / self._total, rate,
                 logs.format_duration((self._total - done) / max(rate, 1e-9)))


def generated_batches(generator: checkpoint.TrainedGenerator, labels: Labels, *, batch_size: int,
                      seed: int) -> Iterator[tuple[np.ndarray, Labels, float]]:
  """Generates an image for every example of `labels`, batch by batch.

  Yields (images in photoelectrons, their labels, seconds the generator took on the batch); the
  last batch is padded (repeating the last label) to the compiled size and cut back. Example i's
  latent vector is drawn from `fold_in(key(seed), i)`, whatever the batch size.
  """
  labels = _checked_labels(labels)
  num = len(labels['energy'])
  batch_size = min(batch_size, num)
  generate = _compiled_generate(generator, jax.random.key(seed), batch_size)
  for start in range(0, num, batch_size):
    indices = np.arange(start, start + batch_size, dtype=np.int32)
    padded = {name: values[np.minimum(indices, num - 1)] for name, values in labels.items()}
    began = time.perf_counter()
    images = jax.block_until_ready(generate(indices, padded))
    seconds = time.perf_counter() - began
    count = min(batch_size, num - start)
    yield (generator.normalisation.inverse(np.asarray(images[:count])),
           {name: values[:count] for name, values in padded.items()}, seconds)


def generate_images(generator: checkpoint.TrainedGenerator, labels: Labels, *, batch_size: int,
                    seed: int) -> tuple[np.ndarray, float]:
  """Generated images (photoelectrons) for `labels`, in memory, and the generator's seconds."""
  pieces = list(generated_batches(generator, labels, batch_size=batch_size, seed=seed))
  return np.concatenate([images for images, _, _ in pieces]), sum(s for _, _, s in pieces)


def _replace_provenance(path: str, provenance: dict) -> None:
  """Sets the `provenance` attribute of a finished file and syncs it to disk."""
  with h5py.File(path, 'r+') as file:
    file.attrs['provenance'] = json.dumps(provenance, sort_keys=True)
  hdf5.fsync(path)


@contextlib.contextmanager
def exit_on_signal(output: str) -> Iterator[None]:
  """For a command line writing `output`: while the block runs, SIGTERM and SIGINT (Ctrl-C)
  remove this process's staging files of `output` and end the process at once with status
  128 + the signal (143, 130), as the signal would have. Nothing else is written or awaited, so
  no exception that a library might catch on the way out is involved. Outside the main thread,
  where Python sets no handlers, signals keep theirs."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def stop(signum, frame):
    del frame
    for path in (_staging(output) + hdf5.PARTIAL, _staging(output)):
      with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    logging.warning('Stopped by %s: %s not written, no partial file left',
                    signal.Signals(signum).name, output)
    logging.flush()
    os._exit(128 + signum)

  previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
  try:
    yield
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)


def _staging(output: str) -> str:
  """The name `output` has while this process writes it: it names the host and the process, so
  that `_sweep_stale` can tell a writer that is gone."""
  return f'{output}{STAGING}.{socket.gethostname()}.{os.getpid()}'


def _alive(pid: int) -> bool:
  """Whether process `pid` of this host runs. This process counts as gone: it has no staging
  file yet when it sweeps, so one with its pid was left by an earlier process of the same pid
  (containers restart with the same pids)."""
  if pid == os.getpid():
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # another user's
    return True
  return True


def _sweep_stale(output: str) -> None:
  """Removes the staging files of `output` left by writers of this host that are gone (a
  SIGKILL, a crash, a power cut); those of live writers and other hosts are left alone."""
  folder, name = os.path.split(os.path.abspath(output))
  if not os.path.isdir(folder):
    raise FileNotFoundError(f'--output={output}: no folder {folder}; make it first')
  stale = re.compile(re.escape(f'{name}{STAGING}.{socket.gethostname()}.') +
                     rf'(\d+)({re.escape(hdf5.PARTIAL)})?$')
  for entry in os.listdir(folder):
    found = stale.match(entry)
    if found and not _alive(int(found.group(1))):
      os.remove(os.path.join(folder, entry))
      logging.warning('Removed %s, left by an interrupted generation (process %s is gone)',
                      os.path.join(folder, entry), found.group(1))


def generate_to_file(generator: checkpoint.TrainedGenerator, output: str, labels: Labels, *,
                     batch_size: int, seed: int, label_source: Any = None) -> dict[str, Any]:
  """Writes `generator`'s images for `labels` to `output`, a jaxgan HDF5 file.

  Args:
    generator: a run's generator (`checkpoint.load_generator`).
    output: the file to write (replaced if it exists, only once the new one is complete).
    labels: `particletype` (N,) int, `energy` (N,) float, `direction` (N, 2) float.
    batch_size: images generated at once.
    seed: seed of the latent vectors (example i's from `fold_in(key(seed), i)`).
    label_source: JSON-serialisable description of where the labels came from (provenance).

  Returns:
    The provenance stored under 'generator' in the file, with `num_images` and `output`:
    workdir, step, ema, seed, batch_size, label_source, images_per_second, generation_seconds.
  """
  if batch_size < 1:
    raise ValueError(f'batch_size={batch_size}: give at least 1')
  labels = _checked_labels(labels)
  num = len(labels['energy'])
  _sweep_stale(output)
  staging = _staging(output)  # complete but without the final provenance
  try:
    with hdf5.append_writer(staging, generator.image_shape, camera=generator.camera,
                            provenance={}, source=SOURCE) as writer:
      progress, seconds = _Progress(num), 0.0
      for images, batch_labels, batch_seconds in generated_batches(
          generator, labels, batch_size=batch_size, seed=seed):
        writer.append(images, batch_labels)
        seconds += batch_seconds
        progress.report(len(writer))
    provenance = {'workdir': os.path.abspath(generator.workdir), 'step': generator.step,
                  'ema': generator.ema, 'seed': seed, 'batch_size': min(batch_size, num),
                  'label_source': label_source, 'images_per_second': num / max(seconds, 1e-9),
                  'generation_seconds': seconds}
    _replace_provenance(staging, {'generator': provenance})
    os.replace(staging, output)
  finally:
    if os.path.exists(staging):
      os.remove(staging)
  logging.info('Wrote %d images to %s: %.0f images/s', num, output,
               provenance['images_per_second'])
  return {**provenance, 'num_images': num, 'output': os.path.abspath(output)}


def requested_labels(config: ml_collections.ConfigDict, *, labels_file: str | None,
                     num: int | None, particle: str | None, energy_min: float | None,
                     energy_max: float | None, seed: int) -> tuple[Labels, dict]:
  """The labels of `labels_file`, or `num` draws (seeded by `seed`) from the run's training labels
  that pass the filters; and their description for the provenance."""
  if labels_file is not None:
    return file_labels(labels_file), {'file': os.path.abspath(labels_file)}
  filters = {'particle': particle, 'energy_min': energy_min, 'energy_max': energy_max}
  pool = filter_labels(training_labels(config), **filters)
  return (draw_labels(pool, num, seed),
          {'drawn_from': 'training labels', 'matching_labels': len(pool), 'num': num, **filters})


def generate_from_run(workdir: str, output: str, *, labels_file: str | None = None,
                      num: int | None = None, particle: str | None = None,
                      energy_min: float | None = None, energy_max: float | None = None,
                      batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0,
                      step: int | None = None) -> dict[str, Any]:
  """Writes to `output` the images of the run in `workdir` for the labels asked for.

  Args:
    workdir: the training run's directory (telescope data).
    output: the HDF5 file to write.
    labels_file: generate for exactly the labels of this jaxgan HDF5 file; or
    num: generate for this many draws of the run's training labels, filtered by
    particle: 'gamma' or 'proton' (None: both),
    energy_min, energy_max: log10(E / TeV) bounds (None: unbounded).
    batch_size: images generated at once.
    seed: seed of the latent vectors and of the label draws.
    step: the checkpoint to generate with; None: the latest.

  Returns:
    `generate_to_file`'s provenance, with `num_images` and `output`.

  Raises:
    ValueError: a combination of choices that makes no sense (`check_request`), an output that is
      one of the inputs (`check_output`), or no label left after the filters.
  """
  check_request(labels_file, num, particle, energy_min, energy_max)
  config = checkpoint.load_config(workdir)
  check_output(output, run_inputs(workdir, config, labels_file))
  labels, source = requested_labels(config, labels_file=labels_file, num=num, particle=particle,
                                    energy_min=energy_min, energy_max=energy_max, seed=seed)
  return generate_to_file(checkpoint.load_generator(workdir, step), output, labels,
                          batch_size=batch_size, seed=seed, label_source=source)

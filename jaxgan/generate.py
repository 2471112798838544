"""Generated telescope images for chosen labels, written in the jaxgan HDF5 format.

  python -m jaxgan.generate --workdir=runs/ctgan --output=generated.h5 --labels=validation.h5
  python -m jaxgan.generate --workdir=runs/ctgan --output=gammas.h5 --num=1000000 \
      --particle=gamma --energy_min=0 --energy_max=1 [--batch_size=4096] [--seed=0] [--step=S]

The labels are either exactly those of a jaxgan HDF5 file (`--labels`: the source's protocol
generates for the validation labels) or `--num` draws, with replacement, from the run's training
labels, optionally only one particle type and log10(E / TeV) in [energy_min, energy_max]. The
images are in photoelectrons (`Normalisation.inverse` of the run), with their labels beside them;
the EMA generator is used when the run keeps one (`GANState.sampling_variables`).

Generation streams: one batch at a time is generated, converted and appended to the file
(`hdf5.append_writer`), so any number of images fits in memory; the file appears under its name
only when complete. Example i's latent vector is drawn from `fold_in(key(seed), i)`, so the
images depend on (seed, labels) and not on the batch size. The generator's throughput (images/s,
compilation excluded: the program is compiled before the clock starts) is logged and stored, with
the workdir, checkpoint step, seed and label source, in the file's `provenance` attribute under
'generator'.
"""

import dataclasses
import functools
import json
import os
import time
from typing import Any, Callable, Iterator

import flax.linen as nn
import h5py
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from absl import app
from absl import flags
from absl import logging

from jaxgan import assembly
from jaxgan import camera as camera_lib
from jaxgan import checkpoint
from jaxgan import configs
from jaxgan import labels as labels_lib
from jaxgan import logs
from jaxgan import state as state_lib
from jaxgan.data import dataset as data_lib
from jaxgan.data import hdf5
from jaxgan.data import pipeline

SOURCE = 'jaxgan.generate'  # the `source` attribute of the files written here
PROGRESS_EVERY_S = 5.0  # seconds between progress lines

Labels = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
  """A run's generator, restored from a checkpoint, with what turns its outputs into data.

  Attributes:
    workdir: the training run's directory.
    module: the generator (no pmap axis).
    variables: its variables for sampling (EMA parameters when the run keeps them).
    latent_dim, label_dim: sizes of its two inputs (label_dim 0: unconditional).
    normalisation: network units -> photoelectrons (`.inverse`).
    image_shape: (H, W, C).
    camera: the camera of the data it learned (pixel size, cleaning levels).
    step: the checkpoint's step.
    ema: whether `variables` hold EMA parameters.
  """
  workdir: str
  module: nn.Module
  variables: Any
  latent_dim: int
  label_dim: int
  normalisation: pipeline.Normalisation
  image_shape: tuple[int, int, int]
  camera: camera_lib.Camera
  step: int
  ema: bool


def _tuples(value: Any) -> Any:
  """JSON lists back into the tuples the config held (recursively)."""
  if isinstance(value, dict):
    return {key: _tuples(item) for key, item in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(item) for item in value)
  return value


def _read_json(workdir: str, name: str) -> dict:
  path = os.path.join(workdir, name)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{workdir}: no {name}; not a jaxgan run directory (train one with '
                            'python -m jaxgan.main)')
  with open(path) as f:
    return json.load(f)


def _merged(defaults: dict, saved: dict, prefix: str, filled: list[str]) -> dict:
  """`saved` with the fields it lacks taken from `defaults` (their names added to `filled`)."""
  merged = dict(saved)
  for name, default in defaults.items():
    if name not in saved:
      merged[name] = default
      filled.append(prefix + name)
    elif isinstance(default, dict) and isinstance(saved[name], dict):
      merged[name] = _merged(default, saved[name], f'{prefix}{name}.', filled)
  return merged


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's `config.json`, for a telescope dataset (others are refused).

  Fields added to `configs.base_config` after the run was trained take their defaults (logged).
  """
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f'{workdir}: no such run directory')
  filled = []
  saved = _tuples(_read_json(workdir, 'config.json'))
  config = ml_collections.ConfigDict(_merged(configs.base_config().to_dict(), saved, '', filled))
  if filled:
    logging.warning('%s/config.json predates the fields %s: using their defaults', workdir,
                    filled)
  if data_lib.get_dataset(config.data.name).camera is None:
    raise ValueError(f'{workdir}: the run learned data.name={config.data.name!r}, without a '
                     'camera; jaxgan.generate writes telescope images only')
  return config


def _restore(directory: str, template: Any, step: int | None) -> tuple[Any, int]:
  """Checkpoint `step` (None: the latest) of `directory` restored into `template`, and its step."""
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'{directory}: no checkpoint; the run has not saved one yet')
  options = ocp.CheckpointManagerOptions(read_only=True, create=False)
  with ocp.CheckpointManager(directory, options=options) as manager:
    available = sorted(manager.all_steps())
    if not available:
      raise FileNotFoundError(f'{directory}: no checkpoint; the run has not saved one yet')
    step = available[-1] if step is None else step
    if step not in available:
      raise ValueError(f'{directory}: no checkpoint at step {step}; available: {available}')
    restored = manager.restore(step, args=ocp.args.StandardRestore(template))
  return jax.tree.map(np.asarray, restored), step


def _state_template(config: ml_collections.ConfigDict,
                    image_shape: tuple[int, ...]) -> state_lib.GANState:
  """Zeros shaped like the run's state, built as `train.train_and_evaluate` builds it (shapes
  only: `jax.eval_shape` skips the costly initialisation)."""
  shapes = jax.eval_shape(functools.partial(assembly.initial_state, config, image_shape),
                          assembly.predictor_shapes(config, image_shape))
  return jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes)


def _generator_label_dim(config: ml_collections.ConfigDict) -> int:
  """Columns of the label vector the generator takes: the telescope labels, or none."""
  conditions = assembly.conditioning_of(config)
  if conditions.codes:
    raise ValueError(f'model.conditioning={config.model.conditioning!r}: the generator takes '
                     'latent codes, not telescope labels; generating for labels makes no sense')
  if 'none' in conditions.modes:
    logging.warning('The run is unconditional: its images ignore the labels stored with them')
  return conditions.generator_label_dim


def restore_state(workdir: str, step: int | None = None) -> tuple[ml_collections.ConfigDict,
                                                                   state_lib.GANState, int]:
  """The config of the run in `workdir`, its whole state (host arrays) at checkpoint `step`
  (None: the latest), and that step."""
  config = load_config(workdir)
  image_shape = tuple(_read_json(workdir, 'dataset.json')['image_shape'])
  state, step = _restore(checkpoint.directory_of(workdir), _state_template(config, image_shape),
                         step)
  return config, state, step


def trained_generator(workdir: str, config: ml_collections.ConfigDict, state: state_lib.GANState,
                      step: int) -> TrainedGenerator:
  """The generator of `state`, a state of the telescope run in `workdir` at `step`."""
  facts = _read_json(workdir, 'dataset.json')
  generator, _ = assembly.build_networks(config)
  return TrainedGenerator(
      workdir=workdir, module=generator, variables=state.sampling_variables,
      latent_dim=config.model.latent_dim, label_dim=_generator_label_dim(config),
      normalisation=pipeline.Normalisation(facts['image_scale'], facts['transform']),
      image_shape=tuple(facts['image_shape']), camera=data_lib.camera_of(config.data),
      step=step, ema=bool(state.generator_ema_params))


def load_generator(workdir: str, step: int | None = None) -> TrainedGenerator:
  """The generator of the run in `workdir` at checkpoint `step` (None: the latest)."""
  return trained_generator(workdir, *restore_state(workdir, step))


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


def _compiled_generate(generator: TrainedGenerator, key: jax.Array,
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


def generated_batches(generator: TrainedGenerator, labels: Labels, *, batch_size: int,
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


def generate_images(generator: TrainedGenerator, labels: Labels, *, batch_size: int,
                    seed: int) -> tuple[np.ndarray, float]:
  """Generated images (photoelectrons) for `labels`, in memory, and the generator's seconds."""
  pieces = list(generated_batches(generator, labels, batch_size=batch_size, seed=seed))
  return np.concatenate([images for images, _, _ in pieces]), sum(s for _, _, s in pieces)


def _replace_provenance(path: str, provenance: dict) -> None:
  """Sets the `provenance` attribute of a finished file and syncs it to disk."""
  with h5py.File(path, 'r+') as file:
    file.attrs['provenance'] = json.dumps(provenance, sort_keys=True)
  descriptor = os.open(path, os.O_RDONLY)
  try:
    os.fsync(descriptor)
  finally:
    os.close(descriptor)


def generate_to_file(generator: TrainedGenerator, output: str, labels: Labels, *,
                     batch_size: int, seed: int, label_source: Any = None) -> dict[str, Any]:
  """Writes `generator`'s images for `labels` to `output`, a jaxgan HDF5 file.

  Args:
    generator: a run's generator (`load_generator`).
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
  staging = output + '.generating'  # complete but without the final provenance
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


def _define_flags() -> dict[str, flags.FlagHolder]:
  """The command line's flags, defined only when run as a command (modules that import this one
  define their own)."""
  return {
      'workdir': flags.DEFINE_string('workdir', None, 'Directory of the training run.',
                                     required=True),
      'output': flags.DEFINE_string('output', None, 'HDF5 file to write.', required=True),
      'labels': flags.DEFINE_string('labels', None,
                                    'Generate for exactly the labels of this file.'),
      'num': flags.DEFINE_integer('num', None, 'Generate for this many draws of training labels.'),
      'particle': flags.DEFINE_enum('particle', None, list(labels_lib.PARTICLE_NAMES),
                                    '--num: draw only this particle type.'),
      'energy_min': flags.DEFINE_float('energy_min', None, '--num: lowest log10(E / TeV) drawn.'),
      'energy_max': flags.DEFINE_float('energy_max', None, '--num: highest log10(E / TeV) drawn.'),
      'batch_size': flags.DEFINE_integer('batch_size', 4096, 'Images generated at once.'),
      'seed': flags.DEFINE_integer('seed', 0, 'Seed of the latent vectors and the label draws.'),
      'step': flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).'),
  }


def _requested_labels(config: ml_collections.ConfigDict,
                      values: dict[str, Any]) -> tuple[Labels, dict]:
  """The labels the flags ask for, and their description for the provenance."""
  if values['labels'] is not None:
    return file_labels(values['labels']), {'file': os.path.abspath(values['labels'])}
  filters = {name: values[name] for name in ('particle', 'energy_min', 'energy_max')}
  pool = filter_labels(training_labels(config), **filters)
  return (draw_labels(pool, values['num'], values['seed']),
          {'drawn_from': 'training labels', 'matching_labels': len(pool), 'num': values['num'],
           **filters})


def main(argv: list[str], flag_values: dict[str, flags.FlagHolder]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().addFilter(logs.QuietLibraries())
  values = {name: holder.value for name, holder in flag_values.items()}
  try:
    check_request(values['labels'], values['num'], values['particle'], values['energy_min'],
                  values['energy_max'])
    labels, source = _requested_labels(load_config(values['workdir']), values)
    stats = generate_to_file(load_generator(values['workdir'], values['step']), values['output'],
                             labels, batch_size=values['batch_size'], seed=values['seed'],
                             label_source=source)
  except (ValueError, FileNotFoundError) as error:
    raise SystemExit(f'jaxgan.generate: {error}') from error
  print(f'{stats["num_images"]} images from step {stats["step"]} written to {stats["output"]} '
        f'at {stats["images_per_second"]:.0f} images/s')


if __name__ == '__main__':
  app.run(functools.partial(main, flag_values=_define_flags()))

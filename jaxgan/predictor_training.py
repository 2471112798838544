"""Trains the auxiliary label predictor once per workdir, or loads a saved one.

The CTGAN generator's loss includes the losses of a pretrained predictor on the generated images;
when no predictor exists it is trained here before GAN training starts (footnote 23 of the
source). A saved predictor is a directory holding

  variables/             orbax PyTree checkpoint of the flax variables {'params', 'batch_stats'}
  predictor_config.json  the architecture fields it was built with
  metrics.json           its validation metrics (`evaluate_predictor`)

It is written under a temporary name and renamed when complete, so an existing directory is
either a whole predictor or not ours: loading it never retrains, it fails naming the path.
Saving and loading involve this process alone (variables saved as host numpy arrays), so that in
a multi-process run process 0 can do it while the others wait (`assembly.prepare_predictor`).

Optimisation: Adam, learning rate cosine-decayed from `learning_rate` to 0 over `num_steps`
(short runs end at a settled point without tuning a schedule; `schedule='constant'` keeps it, as
CTLearn does), on cross-entropy and MSE (`regression_loss='mae'`: CTLearn's), batches drawn without replacement
from a per-epoch shuffle seeded by (`seed`, epoch); the incomplete last batch of an epoch is
dropped.

Each update is `steps.predictor_step`, the pure step that GAN training also uses with
`alongside`: it then keeps updating the predictor (the live one is part of the GAN's
checkpoints), starting from the one saved here; `num_steps=0` makes that start a fresh
initialisation (`seed`).
"""

import functools
import itertools
import json
import os
import shutil
import time
from typing import Any, Callable, Iterator, Mapping

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp

from jaxgan import distributed
from jaxgan import labels as labels_lib
from jaxgan import losses
from jaxgan import steps
from jaxgan.data import pipeline
from jaxgan.data.split import Split
from jaxgan.models import predictor as predictor_lib

Array = jax.Array
PyTree = Any
Batch = dict[str, Any]
Normalise = Callable[[np.ndarray], np.ndarray]

VARIABLES_DIR = 'variables'
# `schedule`: the learning rate over `num_steps` steps.
SCHEDULES = {'cosine': optax.cosine_decay_schedule,
             'constant': lambda learning_rate, num_steps: learning_rate}
CONFIG_FILE = 'predictor_config.json'
METRICS_FILE = 'metrics.json'
# Fields of the config that define the network; all but `conv_impl` shape its parameters.
ARCHITECTURE_FIELDS = ('name', 'stage_widths', 'blocks_per_stage', 'se_ratio', 'coord_channels',
                       'head_widths', 'conv_impl')
PARAMETER_FIELDS = ARCHITECTURE_FIELDS[:-1]
# Values of the architecture fields that a config (or a saved predictor_config.json) may lack.
ARCHITECTURE_DEFAULTS = {'name': 'resnet', 'coord_channels': True, 'head_widths': []}
# The validation metric of each telescope label, and its value per example.
LABEL_METRICS = {
    'particletype': ('particletype_accuracy', lambda p, y: jnp.argmax(p, axis=-1) == y),
    'energy': ('energy_mae', lambda p, y: jnp.abs(p - y)),
    'direction': ('direction_mae', lambda p, y: jnp.mean(jnp.abs(p - y), axis=-1)),
}


def checkpoint_path(config: ml_collections.ConfigDict, workdir: str) -> str:
  """The directory of the predictor: `config.checkpoint`, or <workdir>/predictor when empty."""
  return os.path.abspath(config.checkpoint or os.path.join(workdir, 'predictor'))


def architecture(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The JSON-serialisable architecture fields of a predictor config (`ARCHITECTURE_DEFAULTS`
  for those it lacks)."""
  return {name: _plain(config.get(name, ARCHITECTURE_DEFAULTS.get(name)))
          for name in ARCHITECTURE_FIELDS}


def train_or_load_predictor(config: ml_collections.ConfigDict, train: Split, validation: Split,
                            normalise: Normalise, workdir: str,
                            label_spec: labels_lib.LabelSpec = labels_lib.TELESCOPE) -> PyTree:
  """Loads the predictor saved at `checkpoint_path`, or trains, evaluates and saves one there.

  Images are read and normalised batch by batch, so splits on disk (`LazyImages`) stream.

  Args:
    config: the predictor config (fields of `configs.predictor()`).
    train, validation: the splits, images in physical units.
    normalise: maps a batch of images to network units.
    workdir: the run's directory, home of the predictor unless `config.checkpoint` is set.
    label_spec: the labels it predicts (some of the splits' telescope labels).

  Returns:
    Flax variables {'params', 'batch_stats'} of `predictor_from_config(config, label_spec=...)`.
  """
  path = checkpoint_path(config, workdir)
  if os.path.exists(path):
    variables = load_predictor(path, config, train.image_shape, label_spec)
    logging.info('loaded predictor from %s', path)
    return variables
  model = predictor_lib.predictor_from_config(config, label_spec=label_spec)
  variables = train_predictor(config, model, train, normalise)
  metrics = evaluate_predictor(model, variables, validation, normalise, config.batch_size)
  logging.info('predictor validation metrics: %s', metrics)
  save_predictor(path, variables, architecture(config), metrics)
  logging.info('saved predictor to %s', path)
  return variables


def train_predictor(config: ml_collections.ConfigDict, model: nn.Module, train: Split,
                    normalise: Normalise) -> PyTree:
  """Trains a fresh initialisation of `model` for `config.num_steps` steps (0: none).

  Args:
    config: the predictor config.
    model: the predictor to train.
    train: the training split (at least config.batch_size examples).
    normalise: maps a batch of images to network units.

  Returns:
    The trained variables {'params', 'batch_stats'}.
  """
  variables = init_variables(model, train.image_shape, config.seed)
  if not config.num_steps:
    return variables
  optimizer = optax.adam(SCHEDULES[config.schedule](config.learning_rate, config.num_steps))
  params, batch_stats = variables['params'], variables['batch_stats']
  opt_state = optimizer.init(params)
  step_fn = jax.jit(functools.partial(steps.predictor_step, model, optimizer,
                                      regression=config.regression_loss))
  batches = shuffled_batches(train, normalise, config.batch_size, config.seed)
  last_step, last_time = 0, time.perf_counter()
  for step in range(1, config.num_steps + 1):
    params, batch_stats, opt_state, metrics = step_fn(params, batch_stats, opt_state, next(batches))
    if step % config.log_every == 0 or step == config.num_steps:
      loss, now = float(metrics['loss']), time.perf_counter()
      if not np.isfinite(loss):
        raise FloatingPointError(f'predictor training loss is {loss} at step {step}')
      logging.info('predictor step %d/%d: %.2f steps/s, loss %.4f', step, config.num_steps,
                   (step - last_step) / (now - last_time), loss)
      last_step, last_time = step, now
  return {'params': params, 'batch_stats': batch_stats}


@functools.partial(jax.jit, static_argnums=(0, 1))
def init_variables(model: nn.Module, image_shape: tuple[int, ...], seed: int) -> PyTree:
  """Initial variables {'params', 'batch_stats'} of `model` for (H, W, C) images, from `seed`
  ('batch_stats' empty for a network without BatchNorm).

  Compiled (and cached per model and shape): initialising op by op compiles each parameter's
  random draw separately, which takes several times longer.
  """
  return {'batch_stats': {},
          **model.init(jax.random.key(seed), jnp.zeros((1, *image_shape)), train=False)}


def shuffled_batches(split: Split, normalise: Normalise, batch_size: int,
                     seed: int) -> Iterator[Batch]:
  """Endless full batches {'images', 'labels'}, epoch by epoch in the GAN pipeline's shuffled order
  (`pipeline.epoch_permutation`, seeded by (seed, epoch)); each epoch's incomplete last batch is
  dropped. Images are normalised per batch."""
  if len(split) < batch_size:
    raise ValueError(f'{len(split)} training images cannot fill one batch of {batch_size}')
  for epoch in itertools.count():
    order = pipeline.epoch_permutation(len(split), seed, epoch)
    for start in range(0, len(order) - batch_size + 1, batch_size):
      yield _normalised_batch(split, order[start:start + batch_size], normalise)


@functools.partial(jax.jit, static_argnums=0)
def _metric_sums(model: nn.Module, variables: PyTree, images: Array,
                 labels: labels_lib.Labels) -> dict[str, Array]:
  """Per-batch sums over examples of the validation metrics of the labels `model` predicts."""
  predictions = model.apply(variables, images, train=False)
  per_label = losses.label_losses(predictions, labels, model.label_spec)
  count = images.shape[0]
  return {
      **{metric: jnp.sum(error(predictions[name], labels[name]))
         for name, (metric, error) in LABEL_METRICS.items() if name in predictions},
      'loss': count * sum(per_label.values()),
      **{f'loss_{name}': count * value for name, value in per_label.items()},
  }


def evaluate_predictor(model: nn.Module, variables: PyTree, split: Split, normalise: Normalise,
                       batch_size: int) -> dict[str, float]:
  """Label-correlation metrics of a predictor (in eval mode) over a whole split.

  Args:
    model: the predictor.
    variables: its variables {'params', 'batch_stats'}.
    split: images (physical units) and their true labels.
    normalise: maps a batch of images to network units, as for training.
    batch_size: images per forward pass (the last batch may be smaller).

  Returns:
    Of the labels the model predicts: `particletype_accuracy` (fraction of correct argmax),
    `energy_mae` (log10 TeV), `direction_mae` (degrees, mean over the 2 components); `loss` (sum
    of the label losses) and `loss_<label>` (each label's loss); all means over the N images.
  """
  totals = None
  for start in range(0, len(split), batch_size):
    batch = _normalised_batch(split, np.arange(start, min(start + batch_size, len(split))),
                              normalise)
    sums = _metric_sums(model, variables, batch['images'], batch['labels'])
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  return {name: float(value) / len(split) for name, value in totals.items()}


def save_predictor(path: str, variables: PyTree, architecture_fields: Mapping[str, Any],
                   metrics: Mapping[str, float]) -> None:
  """Writes variables, architecture and metrics to `path`, which appears only once complete.

  Args:
    path: the predictor directory to create; it must not exist.
    variables: flax variables {'params', 'batch_stats'}.
    architecture_fields: `architecture(config)`, written to predictor_config.json.
    metrics: validation metrics, written to metrics.json.
  """
  staging = f'{path}.partial'
  shutil.rmtree(staging, ignore_errors=True)  # left over by an interrupted save
  os.makedirs(staging)
  local = distributed.this_process_only()  # one process saves it, also in a multi-process run
  with ocp.StandardCheckpointer(multiprocessing_options=local) as checkpointer:
    checkpointer.save(os.path.join(staging, VARIABLES_DIR), jax.tree.map(np.asarray, variables))
    checkpointer.wait_until_finished()
  _write_json(os.path.join(staging, CONFIG_FILE), dict(architecture_fields))
  _write_json(os.path.join(staging, METRICS_FILE), dict(metrics))
  os.rename(staging, path)


def load_predictor(path: str, config: ml_collections.ConfigDict, image_shape: tuple[int, ...],
                   label_spec: labels_lib.LabelSpec = labels_lib.TELESCOPE) -> PyTree:
  """Restores the variables saved at `path` exactly, checking they fit `config`'s architecture.

  Args:
    path: a directory written by `save_predictor`.
    config: the predictor config; its architecture is used when the directory has no
      predictor_config.json, and must otherwise match the saved one.
    image_shape: (H, W, C) of the images the predictor will see.
    label_spec: the labels it predicts.

  Returns:
    The variables {'params', 'batch_stats'}.
  """
  variables_path = os.path.join(path, VARIABLES_DIR)
  if not os.path.isdir(variables_path):
    raise ValueError(f'predictor directory {path} has no {VARIABLES_DIR}/ checkpoint: it is '
                     'incomplete or not a predictor; delete it to retrain, or point '
                     'predictor.checkpoint elsewhere')
  model = predictor_lib.predictor_from_config(_saved_architecture(path, config),
                                              label_spec=label_spec)
  target = jax.eval_shape(init_variables, model, tuple(image_shape), 0)
  try:
    local = distributed.this_process_only()
    with ocp.StandardCheckpointer(multiprocessing_options=local) as checkpointer:
      return checkpointer.restore(variables_path, target)
  except Exception as error:  # orbax raises many types for unreadable or mismatched files
    raise ValueError(f'cannot restore the predictor saved in {path}: {error}') from error


def _saved_architecture(path: str, config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The architecture in path/predictor_config.json (else `config`'s), checked against `config`."""
  config_path = os.path.join(path, CONFIG_FILE)
  if not os.path.exists(config_path):
    return config
  try:
    with open(config_path) as f:
      saved = {**ARCHITECTURE_DEFAULTS, **json.load(f)}
  except (OSError, ValueError) as error:
    raise ValueError(f'cannot read the predictor architecture {config_path}: {error}') from error
  wanted = architecture(config)
  if any(saved.get(name) != wanted[name] for name in PARAMETER_FIELDS):
    raise ValueError(f'the predictor saved in {path} has architecture {saved}, but the config '
                     f'asks for {wanted}; make them match, or point predictor.checkpoint elsewhere')
  return ml_collections.ConfigDict(saved)


def _normalised_batch(split: Split, indices: np.ndarray, normalise: Normalise) -> Batch:
  batch = split.take(indices)
  return {'images': normalise(batch.images), 'labels': batch.labels}


def _plain(value: Any) -> Any:
  """Tuples as lists, as JSON reads them back."""
  return list(value) if isinstance(value, (tuple, list)) else value


def _write_json(path: str, value: Mapping[str, Any]) -> None:
  with open(path, 'w') as f:
    json.dump(value, f, indent=2, sort_keys=True)

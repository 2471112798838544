"""The base configuration every experiment starts from: every field, with its meaning.

Experiments (`experiments/*.py`) import `base_config()` and override a few fields. The returned
config is locked: assigning a field that does not exist (a misspelling, in a file or on the
command line as `--config.train.num_stpes=3`) raises an error naming it, and so does a value of
the wrong type.
"""

import copy
import importlib.util
import json
import os
from typing import Any, Mapping

import ml_collections

from jaxgan import predictor_training
from jaxgan.data import images
from jaxgan.data import toy_iact


def base_config() -> ml_collections.ConfigDict:
  """The source's CTGAN (paper widths) on the built-in toy telescope data."""
  config = ml_collections.ConfigDict()
  config.seed = 0  # Root of every random draw of the GAN run (initialisation, noise, penalty).

  config.data = data = ml_collections.ConfigDict()
  # Dataset (data/dataset.py): 'toy_iact' (simulator), 'hdf5', 'image_folder', 'digits',
  # 'gaussian_grid', 'gaussian_ring'.
  data.name = 'toy_iact'
  data.path = ''  # File of the dataset (hdf5: the training split), for datasets read from disk.
  data.validation_path = ''  # hdf5: the validation split's file; '' = hold out part of data.path.
  data.num_examples = 20_000  # Events to simulate (toy_iact); split into train and validation.
  data.validation_fraction = 0.2  # Share of the examples held out for validation (the source: 20%).
  data.seed = 0  # Seed of the simulated data, separate from `seed` so seed sweeps share data.
  data.transform = 'asinh'  # Network units: 'asinh' = asinh(x / image_scale), 'linear' = x / scale.
  data.image_scale = 0.0  # Scale of that transform (pe); 0 = robust noise level of train pixels.
  data.image_size = 64  # image_folder: side of the square pictures (resized and centre-cropped).
  data.images = images.default_config()  # image_folder without data.path: the built-in crops.
  data.toy_iact = toy_iact.default_config()  # Simulator physics (see jaxgan/data/toy_iact.py).
  data.toy_iact.energy_min_tev = 0.2  # A high energy threshold, like the source's MAGIC data.
  # toy_iact: simulate every training batch afresh inside the step, on the devices (the fixed
  # data set still serves the normalisation, the predictor, the samples and the evaluation).
  data.online_simulation = False

  config.model = model = ml_collections.ConfigDict()
  model.name = 'ctgan'  # Architecture (jaxgan.models.ARCHITECTURES).
  model.image_size = 43  # Side of the square images.
  model.latent_dim = 512  # Size of the latent vector z.
  model.generator_base_shape = (3, 3, 512)  # Dense output reshaped to this (h, w, c).
  model.generator_features = (256, 128, 64, 1)  # Upsample blocks' channels; last = image channels.
  model.upsample = 'nearest'  # 'nearest' (2x nearest + 3x3 conv) or 'transposed' (stride-2 deconv).
  model.critic_features = (128, 256, 512, 1024)  # 5x5 stride-2 conv blocks of the critic.
  model.critic_dropout = 0.0  # Dropout after each critic block (0 = none).
  model.spectral_norm = 'none'  # Spectral normalisation: 'none', 'critic' or 'both' networks.
  model.info_categorical = 10  # conditioning 'infogan': classes of the categorical code (0: none).
  model.info_continuous = 2  # conditioning 'infogan': continuous codes ~ U(-1, 1).
  # Generator convs: 'xla', 'im2col' or 'auto' (im2col on CPU, else xla; models/layers.py).
  # CTGAN's stride-1 convs are fastest with 'xla'; the DCGAN's transposed convs with 'auto'.
  model.generator_conv_impl = 'xla'
  # > 0: a nonlinear conv of this width at the output resolution before the image (ctgan).
  model.generator_output_features = 0
  # ctgan: the last side^2 entries of z are a per-pixel noise map (latent_dim must exceed them).
  model.generator_pixel_noise = False
  # How labels condition the GAN (jaxgan/conditioning.py): 'none', 'predictor' (the source),
  # 'cgan' (projection critic), 'acgan' (auxiliary head in the critic); combine with '+'.
  model.conditioning = 'predictor'
  model.critic_conv_impl = 'auto'  # Critic convs; 'auto' = im2col on CPU (fast penalty), else xla.
  # ctgan: what the critic reads: 'camera' (the image), 'polar' (the image resampled on a polar
  # grid about the labelled source, where pointing at the source is a local property) or
  # 'aligned' (about the light's centroid, turned away from the labelled source: a shower that
  # points back to it lies along the middle row); the last two need 'cgan' in
  # model.conditioning (jaxgan/models/source_frame.py).
  model.critic_view = 'camera'
  model.camera_pixel_size = 0.1  # ctgan polar/aligned views: camera pixel size, label units.
  model.polar_grid = (96, 48)  # ctgan polar view: (angle bins, one-pixel radius bins).
  # ctgan aligned view: pixels count towards the centroid by how far they exceed this (network
  # units; 2 = 3.6x the noise level in the default asinh units).
  model.centroid_threshold = 2.0

  config.loss = loss = ml_collections.ConfigDict()
  loss.name = 'wasserstein'  # minimax, non_saturating, least_squares, wasserstein, hinge.
  loss.label_smoothing = 0.0  # Cross-entropy losses: the critic's target for real is 1 - this.
  loss.penalty = 'gp'  # Critic regulariser: 'none', 'gp' (WGAN-GP), 'dragan', 'r1' (steps.Penalty).
  loss.gp_weight = 10.0  # Weight lambda of the 'gp' and 'dragan' penalties; 0 disables them.
  loss.gp_interpolation = 'uniform'  # 'gp': eps ~ U(0, 1) (paper) or 'normal' (original TF code).
  loss.r1_gamma = 10.0  # 'r1': the term is gamma / 2 * E[||grad D(x)||^2] on real images.
  loss.r1_every = 1  # 'r1': lazy regularisation, every k-th critic update (term scaled by k).
  loss.info_weight = 1.0  # conditioning 'infogan': weight of the code losses (lambda).
  loss.clip = 0.0  # > 0: WGAN weight clipping of every critic parameter to [-clip, clip].
  loss.adversarial_weight = 1.0  # Weight of the adversarial term in the generator loss.
  loss.label_weights = ml_collections.ConfigDict(  # Predictor-loss weights in the generator loss.
      {'particletype': 0.4, 'energy': 0.4, 'direction': 0.4})

  config.optimizer = optimizer = ml_collections.ConfigDict()
  optimizer.generator_learning_rate = 2e-4  # Adam step size of the generator.
  optimizer.critic_learning_rate = optimizer.get_ref('generator_learning_rate')  # Follows G's.
  optimizer.b1 = 0.5  # Adam beta1 (both networks).
  optimizer.b2 = 0.9  # Adam beta2 (both networks).

  config.train = train = ml_collections.ConfigDict()
  train.num_steps = 273_438  # Generator updates (iterations); 200 epochs of 700k images at 512.
  train.num_epochs = 0  # > 0: train this many epochs of the training split instead of num_steps.
  train.batch_size = 512  # Global batch, split evenly over the devices.
  train.n_critic = 5  # Critic updates per generator update, all on the iteration's real batch.
  train.num_devices = 0  # Devices to use on each process; 0 = all.
  train.log_every = 100  # Steps between metric logs and progress lines.
  train.sample_every = 1000  # Steps between PNG grids of fixed-noise samples.
  train.checkpoint_every = 5000  # Steps between checkpoints (one is always saved at the end).
  train.sample_each_epoch = False  # Also sample at the end of every epoch (the DCGAN recipe).
  train.checkpoint_each_epoch = False  # Also checkpoint at the end of every epoch.
  train.max_to_keep = 3  # Checkpoints kept on disk.
  train.nonfinite = 'stop'  # A non-finite loss or gradient: 'stop' (error) or 'skip' the update.
  train.ema_decay = 0.0  # > 0: keep an EMA of the generator's weights, used for samples (0.999).
  train.dtype = 'float32'  # 'bfloat16': networks compute in bf16; params, losses, penalty float32.
  # Training examples on every device, batches gathered there: 'auto' (when in memory and at
  # most a quarter of the devices' memory), 'always' or 'never' (pipeline.keep_on_devices).
  train.data_on_device = 'auto'

  config.predictor = predictor_training.default_config()  # The auxiliary label predictor.

  config.eval = evaluation = ml_collections.ConfigDict()  # Evaluation during training.
  evaluation.every = 0  # > 0: `jaxgan.evaluate`'s metrics every this many steps (telescope data).
  evaluation.num = 1000  # Validation examples (and generated images) it compares.
  evaluation.seed = 0  # Seed of its latents, Frechet-distance subsets and two-sample test.

  config.lock()
  return config


def call_file_function(path: str, name: str) -> Any:
  """`name()` of the Python file at `path` (an experiment's `get_config`, a sweep's `get_sweep`).

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file defines no function `name`.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path}: no such file')
  spec = importlib.util.spec_from_file_location(f'jaxgan_file_{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not callable(getattr(module, name, None)):
    raise ValueError(f'{path} defines no {name}()')
  return getattr(module, name)()


def from_file(path: str) -> ml_collections.ConfigDict:
  """The config that `get_config()` of the experiment file at `path` returns."""
  return call_file_function(path, 'get_config')


def with_overrides(config: ml_collections.ConfigDict,
                   fields: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A copy of `config` (lock, types and field references kept) with the dotted `fields` set,
  one at a time in their order; an unknown field or a value of the wrong type raises as the
  locked config does (KeyError, TypeError, ...). `config` is left untouched."""
  result = copy.deepcopy(config)
  for field, value in fields.items():
    result.update_from_flattened_dict({field: value})
  return result


# Fields that may change when a run continues in its workdir: they change how long it runs, what
# it writes and where its data lives, not what it computes.
CONTINUATION_FIELDS = ('train.num_steps', 'train.num_epochs', 'train.log_every',
                       'train.sample_every', 'train.checkpoint_every', 'train.max_to_keep',
                       'predictor.checkpoint', 'train.data_on_device')


def _flatten(tree: dict, prefix: str = '') -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def differences(saved_json: str, config: ml_collections.ConfigDict) -> dict[str, tuple[Any, Any]]:
  """Field -> (saved value, `config`'s value) for every field outside CONTINUATION_FIELDS that
  differs between a saved `config.json` text and `config` (a field missing on one side shows as
  None)."""
  saved = _flatten(json.loads(saved_json))
  wanted = _flatten(json.loads(config.to_json_best_effort()))
  return {field: (saved.get(field), wanted.get(field))
          for field in sorted(saved.keys() | wanted.keys())
          if field not in CONTINUATION_FIELDS
          and (field not in saved or field not in wanted or saved[field] != wanted[field])}


def describe_differences(diff: Mapping[str, tuple[Any, Any]]) -> str:
  """'field: saved -> now' per differing field, one per line."""
  return '\n'.join(f'  {field}: {saved!r} -> {now!r}' for field, (saved, now) in diff.items())

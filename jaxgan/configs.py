"""The config families: one base each, and every field with its meaning.

- `telescope()`: the source's CTGAN recipe on the built-in toy telescope data (Cherenkov camera
  images with their particle type, energy and direction); `telescope(size='small')` is the same
  recipe at reduced widths, for a 2-core CPU.
- `pictures()`: DCGAN networks on pictures (a folder of images, the 8x8 digits).
- `points()`: fully connected networks on 2-D points (Gaussian mixtures).

Every experiment (`experiments/*.py`) starts from one family base and overrides a few fields; no
experiment builds on another. Every field is written once, with a comment saying what it means,
in `_common()`; each family sets the fields that make it. docs/config.md lists every field with
each family's value: `python -m jaxgan.config_reference > docs/config.md`.

A returned config is locked: assigning a field that does not exist (a misspelling, in a file or
on the command line as `--config.train.num_stpes=3`) raises an error naming it, and so does a
value of the wrong type.
"""

import copy
import importlib.util
import json
import os
from typing import Any, Mapping, Sequence

import ml_collections

from jaxgan.data import images
from jaxgan.data import toy_iact

SIZES = ('paper', 'small')  # `telescope(size=...)`
BUDGETS = ('minutes', 'hour')  # `telescope_frame(budget=...)`


def check_bounds(config: ml_collections.ConfigDict, bounds: Sequence[tuple[str, str]]) -> None:
  """Fails, naming the field, on a value outside its interval.

  Args:
    config: the config.
    bounds: (dotted field, interval) pairs; an interval is written as in mathematics, '[0, 1)',
      '(0, inf)', '[1, inf)'. Each element of a tuple value is checked.
  """
  for field, interval in bounds:
    value = _field(config, field)
    if not all(_inside(element, interval)
               for element in (value if isinstance(value, (tuple, list)) else (value,))):
      raise ValueError(f'{field}={value!r} must lie in {interval}')


def _field(config: ml_collections.ConfigDict, dotted: str) -> Any:
  for name in dotted.split('.'):
    config = config[name]
  return config


def _inside(value: float, interval: str) -> bool:
  """Whether `value` lies in `interval` ('[low, high)' and the like)."""
  low, high = (float(end) for end in interval[1:-1].split(','))
  above = value >= low if interval[0] == '[' else value > low
  below = value <= high if interval[-1] == ']' else value < high
  return above and below


def _common() -> ml_collections.ConfigDict:
  """Every field of every family, locked.

  The values: a plain GAN's recipe (non-saturating loss, no penalty, one critic update per
  generator update, Adam betas (0.5, 0.999), pixels used as they are, no conditioning), which
  `pictures()` and `points()` keep and `telescope()` replaces by the source's; and for the data
  and the networks the telescope's, which the other families replace where they read them.
  """
  config = ml_collections.ConfigDict()
  config.seed = 0  # Root of every random draw of the GAN run (initialisation, noise, penalty).
  config.data = _data()  # What the GAN learns: the dataset and its units.
  config.model = _model()  # The generator and the critic.
  config.loss = _loss()  # The adversarial loss, its regulariser and the label losses.
  config.optimizer = _optimizer()  # Adam, one per network.
  config.train = _train()  # The loop: length, batch, devices, what it writes and when.
  config.predictor = predictor()  # The auxiliary label predictor (model.conditioning 'predictor').
  config.eval = _evaluation()  # Evaluation during training.
  config.lock()
  return config


def _data() -> ml_collections.ConfigDict:
  """The `data` fields (see `_common`)."""
  data = ml_collections.ConfigDict()
  # Dataset (data/dataset.py): 'toy_iact' (simulator), 'hdf5', 'image_folder', 'digits',
  # 'gaussian_grid', 'gaussian_ring'.
  data.name = 'toy_iact'
  data.path = ''  # File of the dataset (hdf5: the training split), for datasets read from disk.
  data.validation_path = ''  # hdf5: the validation split's file; '' = hold out part of data.path.
  # Examples to make (toy_iact events, built-in crops, mixture points); split into train and
  # validation.
  data.num_examples = 20_000
  data.validation_fraction = 0.2  # Share of the examples held out for validation (the source: 20%).
  data.seed = 0  # Seed of the simulated data, separate from `seed` so seed sweeps share data.
  data.transform = 'linear'  # Network units: 'asinh' = asinh(x / image_scale), 'linear' = x/scale.
  data.image_scale = 1.0  # Scale of that transform (pe); 0 = robust noise level of train pixels.
  data.image_size = 64  # image_folder: side of the square pictures (resized and centre-cropped).
  data.images = images.default_config()  # image_folder without data.path: the built-in crops.
  data.toy_iact = toy_iact.default_config()  # Simulator physics (see jaxgan/data/toy_iact.py).
  data.toy_iact.energy_min_tev = 0.2  # A high energy threshold, like the source's MAGIC data.
  # toy_iact: simulate every training batch afresh inside the step, on the devices (the fixed
  # data set still serves the normalisation, the predictor, the samples and the evaluation).
  data.online_simulation = False
  # Telescope data: keep one particle type, 'gamma' or 'proton' ('' = both; the source trains one
  # GAN per type; data/selection.py).
  data.particle = ''
  data.min_intensity_pe = 0.0  # Keep events whose cleaned image holds this many pe (source: 200).
  # Keep events with at most this share of the cleaned charge within 2 pixels of the edge (0.1).
  data.max_leakage = 1.0
  return data


def _model() -> ml_collections.ConfigDict:
  """The `model` fields (see `_common`)."""
  model = ml_collections.ConfigDict()
  model.name = 'ctgan'  # Architecture (jaxgan.models.ARCHITECTURES).
  model.image_size = 43  # Side of the square images.
  model.latent_dim = 512  # Size of the latent vector z.
  model.generator_base_shape = (3, 3, 512)  # Dense output reshaped to this (h, w, c).
  model.generator_features = (256, 128, 64, 1)  # Upsample blocks' channels; last = image channels.
  # ctgan: the dense layer without a bias, then BatchNorm and LeakyReLU(0.2) before the reshape
  # (the source's); False: a dense layer with a bias, reshaped as it is.
  model.generator_dense_norm = False
  # ctgan: the conv that draws the image: 'linear' (a bias, no activation) or 'leaky_relu' (no
  # bias, then LeakyReLU(0.2): the source's last upsample block).
  model.generator_last_block = 'linear'
  # ctgan: the generator's BatchNorm momentum, the share of its running averages kept at each
  # update (Flax's and Keras' convention; Keras' default 0.99).
  model.batchnorm_momentum = 0.9
  model.batchnorm_epsilon = 1e-5  # ctgan: the generator's BatchNorm epsilon (Keras' default 1e-3).
  # ctgan: initialiser of every kernel: 'lecun_normal' (Flax's) or 'orthogonal' (Keras'
  # Orthogonal, gain 1: the source's). Biases start at zero either way.
  model.init = 'lecun_normal'
  model.upsample = 'nearest'  # 'nearest' (2x nearest + 3x3 conv) or 'transposed' (stride-2 deconv).
  model.critic_features = (128, 256, 512, 1024)  # 5x5 stride-2 conv blocks of the critic.
  model.critic_dropout = 0.0  # Dropout after each critic block (0 = none).
  # ctgan: dropout after each critic block, one rate per block, in place of model.critic_dropout;
  # () = model.critic_dropout after every block.
  model.critic_block_dropout = ()
  model.critic_head_dropout = 0.0  # ctgan: dropout on the critic's features before its dense layer.
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
  # ctgan_frame: > 0 moves that noise map from the camera stage to a per-pixel head of this width
  # at the end ([features, noise] -> 1x1 conv -> 1x1 conv), so that each pixel's noise is
  # independent of its neighbours' given the shower, as a camera's is.
  model.generator_noise_head = 0
  # ctgan models: > 0 bounds the generated pixels softly to +-this (network units: bound *
  # tanh(x / bound)); with the asinh transform a pixel a few units too high is thousands of pe.
  model.generator_output_bound = 0.0
  # How labels condition the GAN (jaxgan/conditioning.py): 'none', 'predictor' (the source),
  # 'cgan' (projection critic), 'acgan' (auxiliary head in the critic); combine with '+'.
  model.conditioning = 'none'
  model.critic_conv_impl = 'auto'  # Critic convs; 'auto' = im2col on CPU (fast penalty), else xla.
  # ctgan: what the critic reads: 'camera' (the image), 'polar' (the image resampled on a polar
  # grid about the labelled source, where pointing at the source is a local property),
  # 'aligned' (about the light's centroid, turned away from the labelled source: a shower that
  # points back to it lies along the middle row), 'aligned_distance' (that, and the centroid's
  # distance from the source as a second channel) or 'aligned_source' (the same turn, anchored at
  # the source: the distance is the position along the row); all but 'camera' need 'cgan' in
  # model.conditioning (jaxgan/models/source_frame.py).
  model.critic_view = 'camera'
  model.camera_pixel_size = 0.1  # ctgan polar/aligned views: camera pixel size, label units.
  model.polar_grid = (96, 48)  # ctgan polar view: (angle bins, one-pixel radius bins).
  # ctgan aligned view: pixels count towards the centroid by how far they exceed this (network
  # units; 2 = 3.6x the noise level in the default asinh units).
  model.centroid_threshold = 2.0
  return model


def _loss() -> ml_collections.ConfigDict:
  """The `loss` fields (see `_common`)."""
  loss = ml_collections.ConfigDict()
  loss.name = 'non_saturating'  # minimax, non_saturating, least_squares, wasserstein, hinge.
  loss.label_smoothing = 0.0  # Cross-entropy losses: the critic's target for real is 1 - this.
  # non_saturating: the generator's target for its fakes is 1 - label_smoothing too (the DCGAN
  # notebook's BCE(D(G(z)), 0.9)); False: 1.
  loss.smooth_generator_target = False
  loss.penalty = 'none'  # Critic penalty: 'none', 'gp' (WGAN-GP), 'dragan', 'r1' (steps.Penalty).
  loss.gp_weight = 10.0  # Weight lambda of the 'gp' and 'dragan' penalties; 0 disables them.
  loss.gp_interpolation = 'uniform'  # 'gp': eps ~ U(0, 1) (paper) or 'normal' (original TF code).
  loss.r1_gamma = 10.0  # 'r1': the term is gamma / 2 * E[||grad D(x)||^2] on real images.
  loss.r1_every = 1  # 'r1': lazy regularisation, every k-th critic update (term scaled by k).
  loss.info_weight = 1.0  # conditioning 'infogan': weight of the code losses (lambda).
  loss.clip = 0.0  # > 0: WGAN weight clipping of every critic parameter to [-clip, clip].
  loss.adversarial_weight = 1.0  # Weight of the adversarial term in the generator loss.
  # Weight of each label's loss in the generator loss (the predictor's, the auxiliary head's), by
  # the dataset's label names.
  loss.label_weights = ml_collections.ConfigDict(
      {'particletype': 0.4, 'energy': 0.4, 'direction': 0.4})
  return loss


def _optimizer() -> ml_collections.ConfigDict:
  """The `optimizer` fields (see `_common`)."""
  optimizer = ml_collections.ConfigDict()
  optimizer.generator_learning_rate = 2e-4  # Adam step size of the generator.
  # Adam step size of the critic; by default it follows the generator's.
  optimizer.critic_learning_rate = optimizer.get_ref('generator_learning_rate')
  optimizer.b1 = 0.5  # Adam beta1 (both networks).
  optimizer.b2 = 0.999  # Adam beta2 (both networks).
  optimizer.eps = 1e-8  # Adam epsilon (both networks); optax's default, Keras' is 1e-7.
  # True: eps is Keras' "epsilon hat", added to the root of the second moment before its bias
  # correction (lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)); False: after it (optax).
  optimizer.eps_hat = False
  return optimizer


def _train() -> ml_collections.ConfigDict:
  """The `train` fields (see `_common`)."""
  train = ml_collections.ConfigDict()
  train.num_steps = 273_438  # Generator updates (iterations); 200 epochs of 700k images at 512.
  train.num_epochs = 0  # > 0: train this many epochs of the training split instead of num_steps.
  train.batch_size = 512  # Global batch, split evenly over the devices.
  # Keep each epoch's incomplete last batch as a smaller batch (PyTorch's DataLoader with
  # drop_last=False, the DCGAN notebook's) instead of dropping it; the step then compiles once
  # more, for that size, which must split evenly over the devices.
  train.keep_partial_batch = False
  train.n_critic = 1  # Critic updates per generator update, all on the iteration's real batch.
  # The generator's mode when it draws the critic's fakes: 'train' (batch statistics, which it
  # keeps) or 'eval' (its BatchNorm running averages, unchanged: the source's).
  train.critic_fakes = 'train'
  # The critic's mode when it scores the fakes of a generator update: 'train' (dropout on) or
  # 'eval' (no dropout: the source's).
  train.generator_critic = 'train'
  # The generator update reuses the critic update's fakes (z, images and generator pass: the
  # generator runs once an iteration, as in the DCGAN notebook) instead of drawing new ones;
  # needs n_critic 1.
  train.reuse_fakes = False
  train.num_devices = 0  # Devices to use on each process; 0 = all.
  train.log_every = 100  # Steps between metric logs and progress lines.
  train.sample_every = 1000  # Steps between PNG grids of fixed-noise samples.
  train.checkpoint_every = 5000  # Steps between checkpoints (one is always saved at the end).
  # Logs, samples, checkpoints and evaluations fall where the 0-based index of the iteration just
  # run is a multiple of their period: after iterations 1, k + 1, 2k + 1, ... (the DCGAN notebook's
  # `iters % k == 0`); False: after k, 2k, ....
  train.count_from_zero = False
  # sample_every counts the iterations of each epoch afresh (the notebook's `batch_no % 200`).
  train.sample_by_epoch = False
  train.sample_each_epoch = False  # Also sample at the end of every epoch (the DCGAN recipe).
  train.checkpoint_each_epoch = False  # Also checkpoint at the end of every epoch.
  train.max_to_keep = 3  # Checkpoints kept on disk.
  train.nonfinite = 'stop'  # A non-finite loss or gradient: 'stop' (error) or 'skip' the update.
  train.ema_decay = 0.0  # > 0: keep an EMA of the generator's weights, used for samples (0.999).
  train.dtype = 'float32'  # 'bfloat16': networks compute in bf16; params, losses, penalty float32.
  # Training examples on every device, batches gathered there: 'auto' (when in memory and at
  # most a quarter of the devices' memory), 'always' or 'never' (pipeline.keep_on_devices).
  train.data_on_device = 'auto'
  return train


def predictor() -> ml_collections.ConfigDict:
  """The auxiliary label predictor's config (`config.predictor` of every family).

  Returns:
    Its fields (jaxgan/predictor_training.py trains and saves it), unlocked.
  """
  config = ml_collections.ConfigDict()
  # Directory of a saved predictor; '' means <workdir>/predictor. Trained and saved there if absent.
  config.checkpoint = ''
  # Network: 'resnet' (jaxgan's: a stem, coordinate channels, BatchNorm) or 'thin_resnet'
  # (CTLearn's, the source's; its widths: `predictor_network('thin_resnet')`).
  config.name = 'resnet'
  config.stage_widths = (16, 32, 64)  # Output channels of each ResNet stage's blocks.
  config.blocks_per_stage = (1, 1, 1)  # Bottleneck residual blocks per stage.
  config.se_ratio = 4  # Squeeze-and-excitation reduction ratio.
  config.coord_channels = True  # Give the network x/y coordinate channels (helps direction).
  config.head_widths = ()  # Hidden layers of each label's head; () = one as wide as the features.
  config.conv_impl = 'im2col'  # Convs: 'im2col' is fastest on CPU, 'xla' on GPU/TPU.
  config.num_steps = 400  # Pretraining steps: ~3 epochs of 16,000 images, ~1.7 min on 2 cores.
  config.batch_size = 128  # Batch for training and for evaluation.
  config.learning_rate = 3e-3  # Adam's initial learning rate.
  config.schedule = 'cosine'  # Its course: 'cosine' (decayed to 0 over num_steps) or 'constant'.
  config.regression_loss = 'mse'  # Loss of energy and direction: 'mse' or 'mae' (CTLearn's).
  config.seed = 0  # Initialisation and shuffling; independent of the GAN's seed.
  config.alongside = False  # Keep training it on the real batches during GAN training.
  config.log_every = 50  # Steps between progress lines.
  return config


# CTLearn 0.6.0's ThinResNet as the source configures it (sgh14/CTGANs
# config_files/predictor-gamma.yml:37-71): filters 48/96/128/256 in 2/3/3/3 blocks, whose outputs
# are 4x the filters; squeeze-and-excitation of ratio 16; heads [512, 256]; no coordinate channels.
THIN_RESNET = {'name': 'thin_resnet', 'stage_widths': (192, 384, 512, 1024),
               'blocks_per_stage': (2, 3, 3, 3), 'se_ratio': 16, 'coord_channels': False,
               'head_widths': (512, 256)}


def predictor_network(name: str) -> dict[str, Any]:
  """The architecture fields of predictor network `name` at its own widths: 'resnet', those of
  `predictor()`; 'thin_resnet', CTLearn's (`THIN_RESNET`). Set them with
  `config.predictor.update(predictor_network(name))`."""
  if name == 'thin_resnet':
    return dict(THIN_RESNET)
  if name != 'resnet':
    raise ValueError(f"predictor network {name!r} is unknown; choose 'resnet' or 'thin_resnet'")
  default = predictor()
  return {field: default[field] for field in THIN_RESNET}


def _evaluation() -> ml_collections.ConfigDict:
  """The `eval` fields (see `_common`)."""
  evaluation = ml_collections.ConfigDict()
  evaluation.every = 0  # > 0: `jaxgan.evaluate`'s metrics every this many steps (telescope data).
  evaluation.num = 1000  # Validation examples (and generated images) it compares.
  evaluation.seed = 0  # Seed of its latents, Frechet-distance subsets and two-sample test.
  # The evaluation networks: 'one' predicting every label, or 'three' (the source's): a particle
  # classifier, an energy regressor and a direction regressor (jaxgan/evaluation/judge.py).
  evaluation.judges = 'one'
  # Their network: '' = the run's predictor's; 'resnet' or 'thin_resnet': that network at its own
  # widths (`predictor_network`), trained as the predictor is.
  evaluation.judge_network = ''
  return evaluation


def telescope(size: str = 'paper') -> ml_collections.ConfigDict:
  """The source's CTGAN recipe on the built-in toy telescope data.

  Args:
    size: 'paper', the source's widths and length (made for a GPU; experiments/ctgan_paper.py),
      or 'small', the same recipe at reduced widths that trains on a 2-core CPU in minutes
      (`_small_telescope`; the default run and experiments/ctgan_source_small.py). A size of the
      base rather than an experiment file, so that no experiment builds on another.

  Returns:
    The locked config.
  """
  if size not in SIZES:
    raise ValueError(f'size={size!r}: choose one of {SIZES}')
  config = _common()
  config.data.transform = 'asinh'  # Faint and bright showers both span the network's range.
  config.data.image_scale = 0.0  # The noise level of the training pixels.
  config.model.conditioning = 'predictor'
  config.loss.name = 'wasserstein'  # WGAN-GP with penalty weight 10.
  config.loss.penalty = 'gp'
  config.optimizer.b2 = 0.9
  config.train.n_critic = 5
  if size == 'small':
    _small_telescope(config)
  return config


def telescope_source_code(particle: str = '') -> ml_collections.ConfigDict:
  """The source's CTGAN code exactly (sgh14/CTGANs), not only its recipe: `telescope()` with the
  constants of its Keras networks and training step, CTLearn's ThinResNet as the predictor, and
  the source's three judges. experiments/ctgan_paper.py cites the source's line for each.

  Args:
    particle: '' for both particle types in one GAN; 'gamma' or 'proton' for the source's
      protocol (config_files/GANs-gamma.yml): one GAN per particle type, trained for the YAML's
      100 epochs (the thesis says 200) on the events with a cleaned intensity of at least 200 pe
      and a leakage of at most 0.1, in photoelectrons as they are, conditioned on energy and
      direction (the particle-type loss off; the type's constant one-hot stays in the label
      vector, where the BatchNorm after the generator's dense layer cancels it exactly).

  Returns:
    The locked config.
  """
  config = telescope()
  config.model.update(generator_dense_norm=True, generator_last_block='leaky_relu',
                      batchnorm_momentum=0.99, batchnorm_epsilon=1e-3, init='orthogonal',
                      critic_block_dropout=(0.0, 0.3, 0.3, 0.0), critic_head_dropout=0.2)
  config.optimizer.update(eps=1e-7, eps_hat=True)
  config.train.update(critic_fakes='eval', generator_critic='eval')
  config.loss.gp_interpolation = 'normal'  # the code's draw; the paper and the thesis: U(0, 1)
  # CTLearn's training (predictor-gamma.yml:26, 72-79): Adam at a constant 1e-4, batch 64, MAE on
  # energy and direction, 5 epochs of the 700,000 training events.
  config.predictor.update(THIN_RESNET, learning_rate=1e-4, schedule='constant', batch_size=64,
                          regression_loss='mae', num_steps=54_688)
  config.eval.judges = 'three'
  if particle:
    config.data.update(particle=particle, min_intensity_pe=200.0, max_leakage=0.1,
                       transform='linear', image_scale=1.0)
    config.loss.label_weights.particletype = 0.0
    config.train.num_epochs = 100
  return config


def telescope_frame(budget: str = 'minutes') -> ml_collections.ConfigDict:
  """The small telescope recipe with the frame generator, the aligned critic view and a weight
  average of the generator (experiments/ctgan.py explains each).

  Args:
    budget: 'minutes', the default run (600 iterations: about 6 minutes on a 2-core CPU), or
      'hour', the long recipe (experiments/ctgan_long.py: `_hour_of_training`).

  Returns:
    The locked config.
  """
  if budget not in BUDGETS:
    raise ValueError(f'budget={budget!r}: choose one of {BUDGETS}')
  config = telescope(size='small')
  config.model.name = 'ctgan_frame'
  config.model.generator_base_shape = (3, 6, 64)  # frame canvas 24 x 48 after three blocks
  config.model.generator_features = (64, 32, 16)
  config.model.generator_output_features = 16  # the camera stage's width
  config.model.generator_pixel_noise = True
  config.model.latent_dim = 64 + 48 * 48  # the azimuth and latent vector, then the noise map
  config.model.critic_view = 'aligned'
  config.model.camera_pixel_size = config.data.toy_iact.get_ref('pixel_size_deg')
  config.train.ema_decay = 0.99
  if budget == 'hour':
    _hour_of_training(config)
  return config


def _hour_of_training(config: ml_collections.ConfigDict) -> None:
  """Sets the long recipe's length and evaluations on `config`. The weight average keeps the
  default's decay, 0.99: at 0.999 the evaluations at steps 400 and 800 gave AUC 0.9999 and
  0.9987, the average still weighing the first weights at 0.999^800 = 45%."""
  config.train.update(num_steps=4000, sample_every=400, checkpoint_every=400,
                      max_to_keep=11)  # every evaluated step's, to pick the best
  config.eval.update(every=400, num=2000)  # the long tier of `evaluation.targets`


def _small_telescope(config: ml_collections.ConfigDict) -> None:
  """Sets the telescope recipe's reduced widths and its CPU budget on `config`.

  The source's model with narrower networks, a shorter latent vector, 600 iterations, and:
  - Adam at 1e-3 instead of 2e-4 for both networks: these small networks tolerate it, and reach
    in 300-600 iterations the critic's Wasserstein estimate that 2e-4 reaches in 900;
  - batch 32 (GAN) and 64 (predictor pretraining) instead of 512, so that a run fits in 10
    minutes on a 2-core CPU;
  - conditioning 'cgan+predictor': the source's predictor losses plus a projection critic, which
    makes brightness follow energy within the budget (size-energy correlation 0.3-0.4, against
    ~0.2 with the predictor alone at the same settings; the data's is 0.48);
  - every GAN batch simulated afresh inside the training step (`data.online_simulation`): no
    image is copied to the devices, and the GAN never sees an event twice (the 20,000 simulated
    events still train the predictor and give the normalisation, the samples and the probe).
  """
  config.data.online_simulation = True
  config.model.latent_dim = 64
  config.model.generator_base_shape = (3, 3, 64)
  config.model.generator_features = (64, 32, 16, 1)
  config.model.critic_features = (16, 32, 64, 128)
  config.model.conditioning = 'cgan+predictor'
  config.optimizer.generator_learning_rate = 1e-3  # The critic's follows.
  config.train.num_steps = 600
  config.train.batch_size = 32
  config.train.log_every = 50
  config.train.sample_every = 100
  config.train.checkpoint_every = 200
  config.predictor.batch_size = 64


def pictures() -> ml_collections.ConfigDict:
  """The source's DCGAN networks (SPEC part A) on 64x64 pictures, with the plain GAN recipe.

  Returns:
    The locked config: a folder of pictures (`data.path`; '' = built-in crops), pixels already
    in [-1, 1], the DCGAN's generator 512-256-128-64-3 and discriminator 64-128-256-512, z of
    size 100, batch 128.
  """
  config = _common()
  config.data.name = 'image_folder'
  config.model.name = 'dcgan'
  config.model.image_size = 64
  config.model.latent_dim = 100
  config.model.generator_features = (512, 256, 128, 64, 3)
  config.model.critic_features = (64, 128, 256, 512)
  config.model.generator_conv_impl = 'auto'  # On CPU: im2col kernel gradients (layers.py).
  config.train.batch_size = 128
  return config


def points() -> ml_collections.ConfigDict:
  """Fully connected networks on 2-D points: the mode-collapse pilot's family.

  Returns:
    The locked config: 10,000 points of the 25-Gaussian grid, generator and critic of 3 hidden
    layers of 128 units, z of size 2, Adam 1e-3, batch 256, 10,000 iterations.
  """
  config = _common()
  config.data.name = 'gaussian_grid'
  config.data.num_examples = 10_000
  config.model.name = 'mlp'
  config.model.latent_dim = 2
  config.model.generator_features = (128, 128, 128, 2)  # Hidden widths, then the point's size.
  config.model.critic_features = (128, 128, 128)
  config.loss.label_weights = ml_collections.ConfigDict({'mode': 1.0})
  config.optimizer.generator_learning_rate = 1e-3
  config.train.batch_size = 256
  config.train.num_steps = 10_000
  config.train.log_every = 500
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
                       'train.count_from_zero', 'train.sample_by_epoch',
                       'predictor.checkpoint', 'train.data_on_device')


def _flatten(tree: dict, prefix: str = '') -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def differences(saved: Mapping[str, Any],
                config: ml_collections.ConfigDict) -> dict[str, tuple[Any, Any]]:
  """Field -> (saved value, `config`'s value) for every field outside CONTINUATION_FIELDS that
  differs between a saved `config.json` (its JSON object) and `config` (a field missing on one
  side shows as None). A field that the saved config predates is the same when `config` holds
  its default (`_common`'s), which is how the run was trained."""
  saved = _flatten(saved)
  wanted = _flatten(json.loads(config.to_json_best_effort()))
  defaults = _flatten(json.loads(_common().to_json_best_effort()))

  def differs(field: str) -> bool:
    if field not in saved:
      return field not in defaults or wanted[field] != defaults[field]
    return field not in wanted or saved[field] != wanted[field]

  return {field: (saved.get(field), wanted.get(field))
          for field in sorted(saved.keys() | wanted.keys())
          if field not in CONTINUATION_FIELDS and differs(field)}


def describe_differences(diff: Mapping[str, tuple[Any, Any]]) -> str:
  """'field: saved -> now' per differing field, one per line."""
  return '\n'.join(f'  {field}: {saved!r} -> {now!r}' for field, (saved, now) in diff.items())

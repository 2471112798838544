"""The source's DCGAN recipe exactly (SPEC part A; Radford et al. 2016, the PyTorch tutorial).

z = 100; generator: transposed convs 512-256-128-64-3 (4x4, stride 2), BatchNorm + ReLU, tanh;
discriminator: convs 64-128-256-512 (4x4, stride 2), BatchNorm on layers 2-4, LeakyReLU 0.2,
final 4x4 conv; weights N(0, 0.02), BatchNorm scale N(1, 0.02) (jaxgan/models/dcgan.py);
non-saturating loss with real labels 0.9; Adam 2e-4, betas (0.5, 0.999); batch 128; 30 epochs;
fixed-noise samples every 200 steps and at each epoch end; a checkpoint per epoch; at the end
an animated GIF of the fixed-noise samples over training (samples/progress.gif).

Data: 64x64 RGB pictures from `--config.data.path=FOLDER` (any size and format; unreadable files
are skipped with a warning), or by default 20,000 random crops of the photographs bundled with
scikit-image (no download). 5% are held out as a validation split. Made for a GPU; on a 2-core CPU
(40-50 training images/s at batch 128 with the fast CPU paths of both networks' convolutions,
`model.generator_conv_impl` and `model.critic_conv_impl` 'auto'; BENCHMARKS.md, 2026-12-06) one
epoch of the built-in crops takes ~7 minutes.

  python -m jaxgan.main --config=experiments/dcgan.py --workdir=runs/dcgan \
      [--config.data.path=/path/to/images]
"""

from jaxgan import configs


def get_config():
  config = configs.base_config()
  config.data.name = 'image_folder'
  config.data.image_size = 64
  config.data.num_examples = 20_000  # built-in crops, when data.path is ''
  config.data.validation_fraction = 0.05
  config.data.transform = 'linear'  # pictures are already in [-1, 1]: the identity
  config.data.image_scale = 1.0
  config.model.name = 'dcgan'
  config.model.image_size = 64
  config.model.latent_dim = 100
  config.model.generator_features = (512, 256, 128, 64, 3)
  config.model.critic_features = (64, 128, 256, 512)
  config.model.generator_conv_impl = 'auto'  # on CPU: im2col kernel gradients (layers.py)
  config.model.conditioning = 'none'
  config.loss.name = 'non_saturating'
  config.loss.label_smoothing = 0.1  # real label 0.9
  config.loss.penalty = 'none'
  config.optimizer.generator_learning_rate = 2e-4
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999
  config.train.batch_size = 128
  config.train.n_critic = 1
  config.train.num_epochs = 30
  config.train.log_every = 50
  config.train.sample_every = 200
  config.train.sample_each_epoch = True
  config.train.checkpoint_every = 1_000_000  # per epoch instead (and at the end)
  config.train.checkpoint_each_epoch = True
  config.train.max_to_keep = 30
  return config

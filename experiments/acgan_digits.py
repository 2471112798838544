"""The source's pilot, an AC-GAN (Odena et al. 2017), on the 8x8 digits bundled with scikit-learn.

Class-conditional generation of the 10 digits: the label (one-hot) is concatenated to z, and an
auxiliary head on the discriminator's features classifies real and generated digits; its
cross-entropy is added to both players' losses. A two-layer DCGAN (4x4 transposed conv to 4x4x128,
then to 8x8x1; discriminator 8x8 -> 4x4x64 -> score and class logits), the DCGAN's optimiser and
non-saturating loss. Row r of the sample grid shows digit r mod 10. Runs on a CPU in a few
minutes.

  python -m jaxgan.main --config=experiments/acgan_digits.py --workdir=runs/acgan_digits
"""

import ml_collections

from jaxgan import configs


def get_config():
  config = configs.base_config()
  config.data.name = 'digits'
  config.data.transform = 'linear'  # digits are already in [-1, 1]: the identity
  config.data.image_scale = 1.0
  config.model.name = 'dcgan'
  config.model.image_size = 8
  config.model.latent_dim = 32
  config.model.generator_features = (128, 1)
  config.model.critic_features = (64,)
  config.model.generator_conv_impl = 'auto'  # on CPU: im2col kernel gradients (layers.py)
  config.model.conditioning = 'acgan'
  config.loss.name = 'non_saturating'
  config.loss.penalty = 'none'
  config.loss.label_weights = ml_collections.ConfigDict({'digit': 1.0})
  config.optimizer.generator_learning_rate = 2e-4
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999
  config.train.batch_size = 64
  config.train.n_critic = 1
  config.train.num_steps = 3000
  config.train.log_every = 100
  config.train.sample_every = 500
  config.train.checkpoint_every = 1000
  return config

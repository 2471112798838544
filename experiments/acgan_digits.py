"""The source's pilot, an AC-GAN (Odena et al. 2017), on the 8x8 digits bundled with scikit-learn.

Class-conditional generation of the 10 digits: the label (one-hot) is concatenated to z, and an
auxiliary head on the discriminator's features classifies real and generated digits; its
cross-entropy is added to both players' losses. `configs.pictures()` shrunk to two layers (4x4
transposed conv to 4x4x128, then to 8x8x1; discriminator 8x8 -> 4x4x64 -> score and class
logits), z of size 32, batch 64, 3,000 iterations. Row r of the sample grid shows digit r mod 10.

  python -m jaxgan.main --config=experiments/acgan_digits.py --workdir=runs/acgan_digits

Expected (docs/benchmarks.md, 2026-11-23, CPU): at step 3,000 every row r of the sample grid shows
digit r in varied handwriting (auxiliary cross-entropy 0.053 on real, 0.001 on generated digits).
"""

import ml_collections

from jaxgan import configs


def get_config():
  config = configs.pictures()
  config.data.name = 'digits'
  config.model.image_size = 8
  config.model.latent_dim = 32
  config.model.generator_features = (128, 1)
  config.model.critic_features = (64,)
  config.model.conditioning = 'acgan'
  config.loss.label_weights = ml_collections.ConfigDict({'digit': 1.0})
  config.train.batch_size = 64
  config.train.num_steps = 3000
  config.train.sample_every = 500
  config.train.checkpoint_every = 1000
  return config

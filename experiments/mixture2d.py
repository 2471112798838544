"""The mode-collapse pilot: 2-D Gaussian mixtures, fully connected networks.

10,000 points from 25 Gaussians of standard deviation 0.05 on the grid {-4, -2, 0, 2, 4}^2
(VEEGAN, PacGAN), or with --config.data.name=gaussian_ring 8 Gaussians of standard deviation
0.02 on a circle of radius 2 (Metz et al. 2017); generator and critic are 3 hidden layers of 128
units (jaxgan/models/mlp.py), z of size 2; the non-saturating loss without penalty, Adam 1e-3
(0.5, 0.999), one critic update per generator update, 10,000 iterations at batch 256 (about a
minute on a 2-core CPU). Every sample step writes a scatter plot of generated over real points
and the standard measures: the fraction of high-quality samples (within 3 standard deviations of
a mode) and the number of modes covered. Any loss, penalty or conditioning ('acgan', 'cgan' with
the mode as label) can be compared here, e.g. --config.loss.name=wasserstein
--config.loss.penalty=gp --config.train.n_critic=5.

  python -m jaxgan.main --config=experiments/mixture2d.py --workdir=runs/mixture2d
"""

import ml_collections

from jaxgan import configs


def get_config():
  config = configs.base_config()
  config.data.name = 'gaussian_grid'
  config.data.num_examples = 10_000
  config.data.transform = 'linear'  # points are used as they are
  config.data.image_scale = 1.0
  config.model.name = 'mlp'
  config.model.latent_dim = 2
  config.model.generator_features = (128, 128, 128, 2)  # hidden widths, then the point's size
  config.model.critic_features = (128, 128, 128)
  config.model.conditioning = 'none'
  config.loss.name = 'non_saturating'
  config.loss.penalty = 'none'
  config.loss.label_weights = ml_collections.ConfigDict({'mode': 1.0})
  config.optimizer.generator_learning_rate = 1e-3
  config.optimizer.b1 = 0.5
  config.optimizer.b2 = 0.999
  config.train.batch_size = 256
  config.train.n_critic = 1
  config.train.num_steps = 10_000
  config.train.log_every = 500
  config.train.sample_every = 1000
  config.train.checkpoint_every = 5000
  return config

"""The source's DCGAN (experiments/dcgan.py, the notebook exactly) with two choices of ours.

Everything as the notebook (ant-mak/tfm, src/tfm_teci_antonmakarov_gan-paintings.ipynb) but:
- the generator's target is 1 (`loss.smooth_generator_target=False`), the real label 0.9 only
  in the discriminator's loss: one-sided label smoothing as Salimans et al. (2016) define it.
  With the notebook's target 0.9 the generator's gradient, D(G(z)) - 0.9 in the logit, vanishes
  where the discriminator gives its fakes 0.9 and above that pushes them back towards "fake";
  with 1 it always pushes towards "real";
- pictures read with jaxgan's 'lanczos' preprocessing (`data.images.preprocessing`): the EXIF
  orientation applied (photographs upright), transparent pixels over white rather than the
  colours hidden under them, truncated files skipped rather than half grey, and a Lanczos resize
  of the exact centre square, sharper than the bilinear one.

  python -m jaxgan.main --config=experiments/dcgan_revised.py --workdir=runs/dcgan_revised \
      [--config.data.path=/path/to/images]

Expected: no full run measured yet. Made for a GPU.
"""

from jaxgan import configs


def get_config():
  config = configs.pictures()
  config.data.validation_fraction = 0.0  # trains on every picture
  config.train.keep_partial_batch = True  # a DataLoader without drop_last
  config.loss.label_smoothing = 0.1  # real label 0.9, for the discriminator only
  config.train.reuse_fakes = True  # one generator pass an iteration
  config.train.num_epochs = 30
  config.train.log_every = 1  # the notebook records both losses every iteration
  config.train.count_from_zero = True  # `iters % 500 == 0`, `batch_no % 200 == 0`
  config.train.checkpoint_every = 500
  config.train.sample_every = 200
  config.train.sample_by_epoch = True  # batch_no restarts every epoch
  config.train.max_to_keep = 1000  # every saved model, as the notebook keeps them
  return config

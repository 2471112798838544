"""The source's DCGAN exactly: ant-mak/tfm, src/tfm_teci_antonmakarov_gan-paintings.ipynb (SPEC A).

Cells are numbered from 0 in the notebook's file (cell 22 is the training loop, "In [12]").
`configs.pictures()` holds the notebook's networks (cells 11, 13 and 15: z 100; generator 4x4
transposed convs 512-256-128-64-3, BatchNorm + ReLU, tanh; discriminator 4x4 convs
64-128-256-512, BatchNorm on layers 2-4, LeakyReLU 0.2, final 4x4 conv; weights N(0, 0.02),
BatchNorm scales N(1, 0.02); jaxgan/models/dcgan.py), Adam 2e-4 (0.5, 0.999) and batch 128
(cells 4 and 19). This file sets the rest, cell by cell:
- data (cell 6): every picture of the folder, read as torchvision 0.2.1's ImageFolder,
  Resize(64), CenterCrop(64), ToTensor and Normalize(0.5, 0.5) read them (Pillow's bilinear),
  in shuffled epochs that keep the incomplete last batch (DataLoader(batch_size=128,
  shuffle=True)); nothing is held out. The notebook's epochs had 807 batches, the last of
  N - 806 x 128 = N - 103,168 pictures, which jaxgan's default drops: N, the folder after
  src/rm_corrupt.py, is not recorded; 82 if that script removed none of the 103,250 files. The
  step compiles a second time for that batch;
- loss and loop (cells 4 and 22): binary cross-entropy, the real label 0.9 both as the
  discriminator's target for real pictures and as the generator's target for its fakes; each
  iteration draws one batch of fakes, the discriminator's update sees it detached and the
  generator's update reuses it, so the generator runs once an iteration; 30 epochs;
- outputs (cells 22 and 24): both losses every iteration; the model saved after the iterations
  whose 0-based number is a multiple of 500 and at the end; fixed-noise samples (generator in
  evaluation mode) after each epoch's batches 0, 200, 400, ... and after the last batch; at the
  end an animated GIF of the samples (samples/progress.gif, cell 28).

Not reproduced: the order of the shuffles and noise (JAX's generator, not PyTorch's); the
discriminator's sigmoid then BCELoss (log clamped at -100), computed here from its logit with
log-sigmoid, the same wherever the sigmoid does not round to 0 or 1 in float32; files the
notebook's folder cleaning (src/rm_corrupt.py) removed only for a warning; torch 1.1's Adam adds
eps to sqrt(v) before its bias correction, optax after (eps 1e-8 / sqrt(1 - 0.999^t) against 1e-8
in the update's denominator); the sample grids' contrast stretch (make_grid(normalize=True)),
where jaxgan shows [-1, 1] as 0..255. Checkpoints hold both networks and their optimisers (~76
MB each, ~3.8 GB for the 50 of a paintings run), where the notebook saves the generator alone.

Data: 64x64 RGB pictures from `--config.data.path=FOLDER` (the notebook: the Kaggle "Painter by
Numbers" train and test images in one folder, 103,250 files before cleaning), or by default
20,000 random crops of the photographs bundled with scikit-image (no download). Made for a GPU.

  python -m jaxgan.main --config=experiments/dcgan.py --workdir=runs/dcgan \
      [--config.data.path=/path/to/images]

Expected: no full run measured yet; the notebook's own run took 807 batches an epoch, 24,210
iterations in ~24 h on a Quadro P5000. experiments/dcgan_revised.py keeps two choices of ours.
"""

from jaxgan import configs


def get_config():
  config = configs.pictures()
  config.data.validation_fraction = 0.0  # trains on every picture
  config.data.images.preprocessing = 'torchvision'  # Resize(64) bilinear, CenterCrop(64)
  config.train.keep_partial_batch = True  # a DataLoader without drop_last
  config.loss.label_smoothing = 0.1  # real label 0.9 ...
  config.loss.smooth_generator_target = True  # ... for the generator's target too
  config.train.reuse_fakes = True  # one generator pass an iteration
  config.train.num_epochs = 30
  config.train.log_every = 1  # the notebook records both losses every iteration
  config.train.count_from_zero = True  # `iters % 500 == 0`, `batch_no % 200 == 0`
  config.train.checkpoint_every = 500
  config.train.sample_every = 200
  config.train.sample_by_epoch = True  # batch_no restarts every epoch
  config.train.max_to_keep = 1000  # every saved model, as the notebook keeps them
  return config

"""The source's DCGAN recipe exactly (SPEC part A; Radford et al. 2016, the PyTorch tutorial).

`configs.pictures()` (z = 100; generator: transposed convs 512-256-128-64-3 (4x4, stride 2),
BatchNorm + ReLU, tanh; discriminator: convs 64-128-256-512 (4x4, stride 2), BatchNorm on layers
2-4, LeakyReLU 0.2, final 4x4 conv; weights N(0, 0.02), jaxgan/models/dcgan.py; non-saturating
loss, Adam 2e-4 (0.5, 0.999), batch 128) with the source's real labels 0.9, 30 epochs,
fixed-noise samples every 200 steps and at each epoch end, a checkpoint per epoch, and at the
end an animated GIF of the samples over training (samples/progress.gif).

Data: 64x64 RGB pictures from `--config.data.path=FOLDER` (any size and format; unreadable files
are skipped with a warning), or by default 20,000 random crops of the photographs bundled with
scikit-image (no download); 5% are held out as a validation split. Made for a GPU.

  python -m jaxgan.main --config=experiments/dcgan.py --workdir=runs/dcgan \
      [--config.data.path=/path/to/images]

Expected: no full run measured yet; on a 2-core CPU it trains at 49.7 images/s, ~7 minutes per
epoch of the built-in crops (docs/benchmarks.md, 2026-12-06,
`python -m jaxgan.benchmark --plan=dcgan`).
"""

from jaxgan import configs


def get_config():
  config = configs.pictures()
  config.data.validation_fraction = 0.05
  config.loss.label_smoothing = 0.1  # real label 0.9
  config.train.num_epochs = 30
  config.train.log_every = 50
  config.train.sample_every = 200
  config.train.sample_each_epoch = True
  config.train.checkpoint_every = 1_000_000  # per epoch instead (and at the end)
  config.train.checkpoint_each_epoch = True
  config.train.max_to_keep = 30
  return config

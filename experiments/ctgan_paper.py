"""The source's CTGAN exactly (SPEC part B): paper widths, Adam 2e-4 (0.5, 0.9), batch 512.

200 epochs over 700,000 training images (875,000 simulated, 20% held out): 273,438 iterations of
5 critic updates and 1 generator update. Made for a GPU; on a CPU use experiments/ctgan.py.

  python -m jaxgan.main --config=experiments/ctgan_paper.py --workdir=runs/ctgan_paper

Expected: no full run measured yet; it trains at 3.34 images/s (batch 16) on a 2-core CPU
(docs/benchmarks.md, 2026-11-28, `python -m jaxgan.benchmark --plan=bfloat16`, the float32 row).
"""

from jaxgan import configs


def get_config():
  config = configs.telescope()
  config.data.num_examples = 875_000
  config.predictor.update(configs.THIN_RESNET)  # CTLearn's ThinResNet, as the source's
  config.eval.judges = 'three'  # the source's classifier, energy and direction regressors
  return config

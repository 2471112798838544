"""The source's CTGAN exactly (SPEC part B): paper widths, Adam 2e-4 (0.5, 0.9), batch 512.

200 epochs over 700,000 training images (875,000 simulated, 20% held out): 273,438 iterations of
5 critic updates and 1 generator update. Made for a GPU; on a CPU use experiments/ctgan.py.

  python -m jaxgan.main --config=experiments/ctgan_paper.py --workdir=runs/ctgan_paper
"""

from jaxgan import configs


def get_config():
  config = configs.base_config()
  config.data.num_examples = 875_000
  return config

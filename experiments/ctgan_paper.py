"""The source's CTGAN code (sgh14/CTGANs: generator.py, discriminator.py, GANs.py and
config_files/GANs-gamma.yml): paper widths, Adam 2e-4 (0.5, 0.9), batch 512.

200 epochs over 700,000 training images (875,000 simulated, 20% held out): 273,438 iterations of
5 critic updates and 1 generator update. Made for a GPU; on a CPU use experiments/ctgan.py.
Beside `configs.telescope()`, the networks and the loop are the source's code's:
- generator: a dense layer without bias, BatchNorm and LeakyReLU(0.2) before the reshape
  (generator.py:112-118, 145-148; GANs-gamma.yml:93); the last upsample block without bias and
  BatchNorm but with LeakyReLU(0.2) (generator.py:60-66, 99-100; GANs-gamma.yml:99);
- Keras' constants: BatchNorm momentum 0.99 and epsilon 1e-3 (generator.py:89, 116, the layer's
  defaults); Adam's epsilon 1e-7, added before the bias correction (GANs-gamma.yml:107, 145);
- orthogonal kernels everywhere (generator.py:69, discriminator.py:19, 66; GANs-gamma.yml:93);
- critic dropout 0.3 after blocks 2 and 3 and 0.2 before the dense layer (discriminator.py:18,
  65, 77; GANs-gamma.yml:136-139);
- the critic's fakes drawn by the generator in evaluation mode, with BatchNorm's running
  averages (GANs.py:113), and the critic without dropout when it scores the generator's fakes
  (GANs.py:63);
- the gradient penalty's eps ~ N(0, 1), the code's draw (GANs.py:40): the paper and the thesis
  write U(0, 1).
- the predictor: CTLearn 0.6.0's ThinResNet as the source configures it
  (config_files/predictor-gamma.yml:31-71); the evaluation: three judges, a particle classifier,
  an energy and a direction regressor (callback.py:52-54, evaluate.py:57-88).
The values are set by `configs.telescope_source_code()`. This file trains one GAN on both
particle types for the thesis's 200 epochs; the source's own protocol, one GAN per particle type
on cut images in photoelectrons, is experiments/ctgan_paper_gamma.py and ctgan_paper_proton.py.
The rest that differs: docs/design.md, "The sources, item by item".

  python -m jaxgan.main --config=experiments/ctgan_paper.py --workdir=runs/ctgan_paper

Expected: no full run measured yet; it trains at 3.34 images/s (batch 16) on a 2-core CPU
(docs/benchmarks.md, 2026-11-28, `python -m jaxgan.benchmark --plan=bfloat16`, the float32 row,
with the networks before these options).
"""

from jaxgan import configs


def get_config():
  config = configs.telescope_source_code()
  config.data.num_examples = 875_000
  return config

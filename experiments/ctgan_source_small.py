"""The source's CTGAN recipe at reduced widths on the toy telescope: `configs.telescope(size=
'small')` as it is, the source's generator and camera-image critic at the default run's budget.

Latent 64, a dense layer to 3x3x64, generator blocks 64/32/16/1 on camera pixels, critic
16/32/64/128 on the camera image; the source's WGAN-GP (n_critic 5, penalty weight 10),
predictor losses at weight 0.4 plus a projection critic ('cgan+predictor'), Adam 1e-3 (0.5,
0.9), batch 32, 600 iterations on events simulated inside the step (`configs._small_telescope`
says why each differs from experiments/ctgan_paper.py). The baseline of the ablation sweeps
in experiments/ablations/.

  python -m jaxgan.main --config=experiments/ctgan_source_small.py \
      --workdir=runs/ctgan_source_small

Expected (docs/benchmarks.md, 2026-11-28, 2-core CPU): brightness follows energy (size-energy
correlation 0.42 at step 600, data 0.48), the shower axis does not follow the direction (gamma
median alpha 42-48 deg, data 2.2, random ~45); 6 min 36 s with a fresh venv.
"""

from jaxgan import configs


def get_config():
  return configs.telescope(size='small')

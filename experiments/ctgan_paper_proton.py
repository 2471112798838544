"""The source's CTGAN code and protocol applied to protons (sgh14/CTGANs
config_files/GANs-gamma.yml with proton files for gamma ones): one GAN for one particle type,
conditioned on energy and direction, on the events with a cleaned intensity >= 200 pe and a
leakage <= 0.1 (lines 22-23), in photoelectrons as they are, for the YAML's 100 epochs (line 155;
the thesis says 200). The networks, step, predictor and judges are experiments/ctgan_paper.py's
(`configs.telescope_source_code`).

Made for a GPU:

  python -m jaxgan.main --config=experiments/ctgan_paper_proton.py --workdir=runs/paper_proton

Expected: no full run measured yet. The cuts keep 4.6% of the simulated events as protons (of
20,000 events at data.seed 0: `jaxgan.data.dataset.load_splits` on this config), about 40,100 of
the 875,000.
"""

from jaxgan import configs


def get_config():
  config = configs.telescope_source_code(particle='proton')
  config.data.num_examples = 875_000
  return config

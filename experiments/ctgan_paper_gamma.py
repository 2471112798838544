"""The source's CTGAN code and protocol for gammas (sgh14/CTGANs config_files/GANs-gamma.yml
and its gamma twin): one GAN for one particle type, conditioned on energy and direction, on
the events with a cleaned intensity >= 200 pe and a leakage <= 0.1 (lines 22-23), in
photoelectrons as they are, for the YAML's 100 epochs (line 155; the thesis says 200). The
networks, step, predictor and judges are experiments/ctgan_paper.py's
(`configs.telescope_source_code`).

Made for a GPU; the cuts keep a part of the simulated events (the log says how many):

  python -m jaxgan.main --config=experiments/ctgan_paper_gamma.py --workdir=runs/paper_gamma
"""

from jaxgan import configs


def get_config():
  config = configs.telescope_source_code(particle='gamma')
  config.data.num_examples = 875_000
  return config

"""How the labels reach the generator and the critic: the `model.conditioning` field.

The field names one mode, or several joined by '+' (e.g. 'cgan+predictor'):

  none       unconditional: neither network sees labels (the generator's label input is empty).
  predictor  the source's CTGAN: labels are concatenated to the generator's input, and the losses
             of a separate, pretrained label predictor on the generated images (against the
             conditioning labels) are added to the generator's loss. The predictor is frozen,
             or with `predictor.alongside` trained further on the real images during GAN
             training (one update after each critic update).
  cgan       labels are concatenated to the generator's input and projected into the critic
             (projection discriminator, Miyato & Koyama 2018): the critic judges image and
             label together, so a realistic image with the wrong labels scores as fake.
  acgan      AC-GAN (Odena et al. 2017): labels to the generator; an auxiliary head on the
             critic's features predicts the labels of real and generated images; its label losses
             are added to the critic's loss (on both) and to the generator's loss (on fakes).
  infogan    InfoGAN (Chen et al. 2016), no labels needed: latent codes c (a categorical code of
             `model.info_categorical` classes and `model.info_continuous` codes ~ U(-1, 1)) are
             concatenated to z; an auxiliary head on the critic's features estimates c from the
             generated images; its losses (cross-entropy, and MSE: the Gaussian log-likelihood of
             fixed variance, up to constants), a lower bound on the mutual information I(c; G(z, c))
             weighted by `loss.info_weight`, are added to both players' losses. Cannot be combined.

Label losses of the predictor and of the AC-GAN head use the same per-label weights
(`loss.label_weights`). Internally InfoGAN's codes are handled as labels of their own spec
(`code_spec`), drawn from their prior at every update instead of read from the data.
"""

import dataclasses
from typing import AbstractSet, Mapping

from jaxgan import labels as labels_lib

MODES = ('none', 'predictor', 'cgan', 'acgan', 'infogan')
EXCLUSIVE = ('none', 'infogan')


def parse(value: str) -> frozenset[str]:
  """The set of modes in a `model.conditioning` value, failing with a message naming it."""
  modes = frozenset(part.strip() for part in value.split('+'))
  unknown = sorted(modes - set(MODES))
  if unknown:
    raise ValueError(f'model.conditioning={value!r}: unknown mode(s) {unknown}; '
                     f'choose from {list(MODES)}, several joined by "+"')
  for mode in EXCLUSIVE:
    if mode in modes and len(modes) > 1:
      raise ValueError(f'model.conditioning={value!r}: "{mode}" cannot be combined with other '
                       'modes')
  return modes


def code_spec(modes: AbstractSet[str], model_config) -> labels_lib.LabelSpec:
  """InfoGAN's latent codes as labels (empty unless the mode is 'infogan')."""
  if 'infogan' not in modes:
    return ()
  codes = []
  if model_config.info_categorical:
    codes.append(labels_lib.Label('code', num_classes=model_config.info_categorical))
  if model_config.info_continuous:
    codes.append(labels_lib.Label('code_continuous', size=model_config.info_continuous))
  if not codes:
    raise ValueError('model.conditioning=infogan needs model.info_categorical > 0 or '
                     'model.info_continuous > 0')
  return tuple(codes)


@dataclasses.dataclass(frozen=True)
class Conditioning:
  """A run's `model.conditioning`, resolved once against its dataset's labels.

  Attributes:
    value: the config value, e.g. 'cgan+predictor' (for messages).
    modes: the parsed modes.
    labels: the dataset's labels.
    codes: InfoGAN's latent codes as labels (`code_spec`; empty without InfoGAN).
  """
  value: str
  modes: frozenset[str]
  labels: labels_lib.LabelSpec
  codes: labels_lib.LabelSpec

  @classmethod
  def from_config(cls, model_config, labels: labels_lib.LabelSpec) -> 'Conditioning':
    """`model_config.conditioning` (and InfoGAN's code sizes) for a dataset with `labels`."""
    modes = parse(model_config.conditioning)
    return cls(model_config.conditioning, modes, tuple(labels), code_spec(modes, model_config))

  @property
  def uses_predictor(self) -> bool:
    return 'predictor' in self.modes

  @property
  def generator_spec(self) -> labels_lib.LabelSpec:
    """What the generator is conditioned on: the data's labels, InfoGAN's codes, or nothing."""
    if 'none' in self.modes:
      return ()
    return self.codes if 'infogan' in self.modes else self.labels

  @property
  def generator_label_dim(self) -> int:
    """Size of the label vector concatenated to the generator's input (0: unconditional)."""
    return labels_lib.vector_size(self.generator_spec)

  @property
  def label_columns(self) -> dict[str, tuple[int, int]]:
    """(start, stop) of each label in the generator's label vector, which is also the critic's
    when it sees labels ('cgan'): what a network that reads one label is told."""
    return {label.name: labels_lib.vector_columns(self.generator_spec, label.name)
            for label in self.generator_spec}

  @property
  def critic_label_dim(self) -> int:
    """Size of the label vector projected into the critic (0 = unconditional critic)."""
    return labels_lib.vector_size(self.labels) if 'cgan' in self.modes else 0

  @property
  def critic_aux_dim(self) -> int:
    """Outputs of the critic's auxiliary head: one per label-vector entry for AC-GAN, one per
    code-vector entry for InfoGAN, else 0."""
    if 'acgan' in self.modes:
      return labels_lib.vector_size(self.labels)
    return labels_lib.vector_size(self.codes)

  def check(self, label_weights: Mapping[str, float]) -> None:
    """Fails with a message when the modes do not fit the dataset's labels or the loss weights."""
    if not self.modes & set(EXCLUSIVE) and not self.labels:
      raise ValueError(f'model.conditioning={self.value!r} needs labels, and this dataset has '
                       "none; use 'none' or 'infogan'")
    if self.uses_predictor and self.labels != labels_lib.TELESCOPE:
      raise ValueError(f"model.conditioning={self.value!r}: the 'predictor' mode is for "
                       f'telescope labels {labels_lib.LABEL_KEYS}; this dataset has '
                       f'{[label.name for label in self.labels]} (use acgan)')
    missing = {label.name for label in self.labels} - set(label_weights)
    if self.modes & {'predictor', 'acgan'} and missing:
      raise ValueError(f'loss.label_weights lacks {sorted(missing)}')

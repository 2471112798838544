"""How the labels reach the generator and the critic: the `model.conditioning` field.

The field names one mode, or several joined by '+' (e.g. 'cgan+predictor'):

  none       unconditional: neither network sees labels (the generator's label input is empty).
  predictor  the source's CTGAN: labels are concatenated to the generator's input, and the losses
             of a separate, pretrained, frozen label predictor on the generated images (against
             the conditioning labels) are added to the generator's loss.
  cgan       labels are concatenated to the generator's input and projected into the critic
             (projection discriminator, Miyato & Koyama 2018): the critic judges image and
             label together, so a realistic image with the wrong labels scores as fake.
  acgan      AC-GAN (Odena et al. 2017): labels to the generator; an auxiliary head on the
             critic's features predicts the labels of real and generated images; its label losses
             are added to the critic's loss (on both) and to the generator's loss (on fakes).

Label losses of the predictor and of the AC-GAN head use the same per-label weights
(`loss.label_weights`).
"""

from typing import AbstractSet, Mapping

from jaxgan.data import labels as labels_lib

MODES = ('none', 'predictor', 'cgan', 'acgan')


def parse(value: str) -> frozenset[str]:
  """The set of modes in a `model.conditioning` value, failing with a message naming it."""
  modes = frozenset(part.strip() for part in value.split('+'))
  unknown = sorted(modes - set(MODES))
  if unknown:
    raise ValueError(f'model.conditioning={value!r}: unknown mode(s) {unknown}; '
                     f'choose from {list(MODES)}, several joined by "+"')
  if 'none' in modes and len(modes) > 1:
    raise ValueError(f'model.conditioning={value!r}: "none" cannot be combined with other modes')
  return modes


def generator_label_dim(modes: AbstractSet[str], spec: labels_lib.LabelSpec) -> int:
  """Size of the label vector concatenated to the generator's input (0 when unconditional)."""
  return 0 if 'none' in modes else labels_lib.vector_size(spec)


def critic_label_dim(modes: AbstractSet[str], spec: labels_lib.LabelSpec) -> int:
  """Size of the label vector projected into the critic (0 = unconditional critic)."""
  return labels_lib.vector_size(spec) if 'cgan' in modes else 0


def critic_aux_dim(modes: AbstractSet[str], spec: labels_lib.LabelSpec) -> int:
  """Outputs of the critic's auxiliary head: one per label-vector entry for AC-GAN, else 0."""
  return labels_lib.vector_size(spec) if 'acgan' in modes else 0


def check(modes: AbstractSet[str], spec: labels_lib.LabelSpec, label_weights: Mapping[str, float],
          value: str) -> None:
  """Fails with a message when the modes do not fit the dataset's labels or the loss weights."""
  if 'none' not in modes and not spec:
    raise ValueError(f'model.conditioning={value!r} needs labels, and this dataset has none; '
                     "use 'none'")
  if 'predictor' in modes and spec != labels_lib.TELESCOPE:
    raise ValueError(f"model.conditioning={value!r}: the 'predictor' mode is for telescope "
                     f'labels {labels_lib.LABEL_KEYS}; this dataset has '
                     f'{[label.name for label in spec]} (use acgan)')
  missing = {label.name for label in spec} - set(label_weights)
  if modes & {'predictor', 'acgan'} and missing:
    raise ValueError(f'loss.label_weights lacks {sorted(missing)}')

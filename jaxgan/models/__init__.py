"""GAN architectures, one file each, looked up by `model.name`.

Each architecture file exposes `from_config(model_config, axis_name) -> (generator, critic)`.
"""

from typing import Callable

import flax.linen as nn

from jaxgan.models import ctgan

ARCHITECTURES: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {
    'ctgan': ctgan.from_config,
}


def build_gan(model_config, axis_name: str | None = None) -> tuple[nn.Module, nn.Module]:
  """(generator, critic) for `model_config.name`; `axis_name` enables cross-device BatchNorm."""
  if model_config.name not in ARCHITECTURES:
    raise ValueError(f'model.name={model_config.name!r} is unknown; '
                     f'choose one of {sorted(ARCHITECTURES)}')
  return ARCHITECTURES[model_config.name](model_config, axis_name)

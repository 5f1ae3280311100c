"""An example variant with a hyperparameter of its own: JEDI with a wider latent denoiser.

Everything the variant adds is in this file: its config section (a dataclass), registered with the
model, becomes ``world_model.variant`` of every run of it: stored in ``config.yaml``, set with ``--set``
and read by the model as ``cfg.variant``:

    JEDI_BENCH_PLUGINS=examples.jedi_wider jedi-bench train --method jedi-wider --game Catch \\
        --preset smoke --set world_model.variant.width=3 --out runs/wider
"""

import dataclasses

from jedi_bench.worldmodels.jedi import JediWorldModel
from jedi_bench.worldmodels.registry import register


@dataclasses.dataclass
class JediWiderConfig:
    """The variant's own section; every field needs a default (what a run that sets nothing gets)."""

    width: int = 2  # the latent denoiser's channels: world_model.latent_denoiser_channels x this

    def validate(self) -> None:
        """Called with the rest of the config, before anything is built."""
        if not (isinstance(self.width, int) and self.width >= 1):
            raise ValueError(f"world_model.variant.width must be an integer >= 1, got {self.width!r}")


@register("jedi-wider", config=JediWiderConfig)
class JediWider(JediWorldModel):
    """The only difference to ``jedi``: a latent denoiser ``width`` times as wide."""

    def __init__(self, cfg, num_actions: int):
        wider = cfg.latent_denoiser_channels * cfg.variant.width
        super().__init__(dataclasses.replace(cfg, latent_denoiser_channels=wider), num_actions)

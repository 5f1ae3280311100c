"""An example world-model variant: JEDI with the encoder at the denoiser's learning rate.

Run it like a built-in method:

    JEDI_BENCH_PLUGINS=examples.jedi_full_lr jedi-bench train --method jedi-full-lr --game Catch \\
        --preset smoke --out runs/example
"""

from jedi_bench.worldmodels.base import Component
from jedi_bench.worldmodels.jedi import JediWorldModel
from jedi_bench.worldmodels.registry import register


@register("jedi-full-lr")
class JediFullEncoderLR(JediWorldModel):
    """The only difference to ``jedi``: the encoder trains at the run's full learning rate."""

    def components(self) -> list[Component]:
        parts = super().components()
        for part in parts:
            for group in part.groups_of(self.encoder):
                group.lr_scale = 1.0
        return parts

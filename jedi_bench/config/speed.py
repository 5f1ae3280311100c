"""Speed switches, and the one rule set for which device can honour them.

The rules are torch-free, so that config stays the ground floor: the caller names the device (``"cpu"``,
``"cuda:1"``) and, for ``compile``, passes what stops torch.compile there, if anything
(:func:`jedi_bench.worldmodels.validation.compile_problem` probes it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SpeedConfig:
    """Speed switches; recorded with every result so measurements say how they were made."""

    bf16: bool = False  # bf16 autocast
    channels_last: bool = False
    compile: bool = False  # torch.compile
    cuda_graphs: bool = False  # CUDA graphs for imagination (cuda only)


def check_speed(speed: SpeedConfig, device: object, compile_problem: str | None = None) -> None:
    """Raise a ValueError, saying how to go on, when ``device`` cannot honour a switch of ``speed``.

    ``device`` is a device name or a torch.device; ``compile_problem`` is why torch.compile cannot work
    there (None: it can).
    """
    kind = str(device).split(":")[0]
    if speed.cuda_graphs and kind != "cuda":
        raise ValueError(
            f"speed.cuda_graphs needs a CUDA device, but the device is {str(device)!r}: turn it "
            "off (train: --set speed.cuda_graphs=false; profile: leave out --cuda-graphs) or "
            "run on a GPU (--device cuda)"
        )
    if speed.compile and compile_problem:
        raise ValueError(
            f"speed.compile is on, but torch.compile cannot work on device {str(device)!r} "
            f"here: {compile_problem}. Turn it off (train: --set speed.compile=false; profile: "
            "leave out --compile) or fix that first"
        )

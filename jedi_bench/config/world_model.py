"""Typed configuration of the world models (sizes, EDM settings, JEDI switches and ablations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# The JEDI paper's ablation table as far as the project knows it (docs/jedi.md, "Ablations"): its rows
# are named, not numbered, and "deterministic switching" is named only by the project's issue 18. Its
# "separately trained autoencoder" row is the ``ae-latent`` method.
JediAblation = Literal[
    "none",  # the full method (random switching, p = switch_prob)
    "mse",  # row "deterministic MSE predictor instead of diffusion"
    "no_denoise_grad",  # row "no denoising gradient into the encoder"
    "decoder",  # row "added decoder/reconstruction gradient"
    "ema",  # row "EMA target encoder instead of stop-gradient"
    "deterministic_switch",  # row "deterministic switching" (issue 18): the
    # prediction on every second denoiser update, the encoder's latent between
    "no_switch_prediction",  # row "no switching", reading 1: always the model's prediction (DIAMOND's)
    "no_switch_encoder",  # row "no switching", reading 2: always the encoder's latent (teacher forcing)
    "no_switch",  # the same as no_switch_prediction, under the name configs may already use
    "no_switch_no_clamp",  # row "no switching and no clamping": reading 1, no 3*tanh(z/3) clamp
]
JEDI_ABLATIONS: tuple[str, ...] = JediAblation.__args__  # type: ignore[attr-defined]


@dataclass
class DiffusionConfig:
    """EDM (Karras et al. 2022) as DIAMOND uses it."""

    sigma_data: float = 0.5
    sigma_offset_noise: float = 0.3
    train_log_mean: float = -0.4
    train_log_std: float = 1.2
    train_sigma_min: float = 2e-3
    train_sigma_max: float = 20.0
    # sampler
    num_steps: int = 3
    sigma_min: float = 2e-3
    sigma_max: float = 5.0
    rho: float = 7.0
    order: int = 1  # 1: Euler, 2: Heun
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = float("inf")
    s_noise: float = 1.0

    def validate(self) -> None:
        positive(self, "sigma_data", "train_log_std", "train_sigma_min", "sigma_min", "sigma_max", "rho")
        require(self.num_steps >= 1, f"diffusion.num_steps must be >= 1, got {self.num_steps}")
        require(self.order in (1, 2), f"diffusion.order must be 1 (Euler) or 2 (Heun), got {self.order}")
        require(self.sigma_min < self.sigma_max, "diffusion.sigma_min must be < sigma_max")
        require(
            self.train_sigma_min < self.train_sigma_max, "diffusion.train_sigma_min must be < train_sigma_max"
        )
        require(self.s_churn >= 0, "diffusion.s_churn must be >= 0")


@dataclass
class WorldModelConfig:
    """Sizes default to the papers' (DIAMOND Atari denoiser, JEDI latent denoiser); presets scale them."""

    context: int = 4  # past observations and actions conditioning one step
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    cond_channels: int = 256  # noise + action embedding driving adaptive GroupNorm
    # pixel denoiser (diamond)
    pixel_channels: list[int] = field(default_factory=lambda: [64, 64, 64, 64])
    pixel_depths: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
    pixel_attention: list[bool] = field(default_factory=lambda: [False, False, False, False])
    # latent space (jedi, ae-latent)
    latent_channels: int = 16
    encoder_channels: list[int] = field(default_factory=lambda: [32, 32, 32, 16])
    latent_clamp: float = 3.0  # C(z) = clamp * tanh(z / clamp)
    latent_denoiser_channels: int = 160  # one U-Net level at 8x8
    latent_denoiser_depth: int = 1  # res blocks down (+1 up): makes the JEDI agent ~13.6M
    # reward / termination model
    rew_end_channels: list[int] = field(default_factory=lambda: [32, 32, 32, 32])
    rew_end_depth: int = 2  # res blocks per CNN level
    rew_end_cond_channels: int = 128  # action embedding driving its adaptive GroupNorm
    rew_end_lstm: int = 512
    rew_end_seq_len: int = 19  # context 4 + horizon 15, as in DIAMOND
    rew_end_lr_scale: float = 1.0  # its learning rate is train.lr x this
    rew_end_skip_padding: bool = False  # True: its LSTM starts at a segment's first real row
    # (DIAMOND's, False: it runs through the left padding)
    extra_ar_targets: int = 1  # extra autoregressive denoiser targets per sample
    # jedi
    encoder_lr_scale: float = 0.3
    switch_prob: float = 0.5  # random switching's probability of the prediction
    ema_decay: float = 0.995
    ablation: str = "none"
    probe_decoder: bool = True  # detached probe decoder, only to render latents
    # ae-latent
    ae_decoder_channels: list[int] = field(default_factory=lambda: [16, 32, 32, 32])
    ae_perceptual: bool = False
    # the method's own section: an instance of the dataclass it registered with @register(name, config=...),
    # None for methods without one (a plain dict only until the registry types it; see config/variants.py)
    variant: Any = field(default=None, metadata={"variant_section": True})

    def validate(self) -> None:
        self.diffusion.validate()
        if callable(getattr(self.variant, "validate", None)):
            self.variant.validate()
        require(self.context >= 1, f"world_model.context must be >= 1, got {self.context}")
        require(
            len(self.pixel_channels) == len(self.pixel_depths) == len(self.pixel_attention),
            "world_model.pixel_channels, pixel_depths and pixel_attention must have the same length",
        )
        require(len(self.encoder_channels) == 4, "world_model.encoder_channels must have 4 stages (64 -> 8)")
        require(
            self.encoder_channels[-1] == self.latent_channels,
            "world_model.encoder_channels[-1] must equal latent_channels",
        )
        require(self.rew_end_seq_len > self.context, "world_model.rew_end_seq_len must be > context")
        require(self.extra_ar_targets >= 0, "world_model.extra_ar_targets must be >= 0")
        positive(
            self,
            "cond_channels",
            "latent_channels",
            "latent_clamp",
            "latent_denoiser_channels",
            "latent_denoiser_depth",
            "rew_end_depth",
            "rew_end_cond_channels",
            "rew_end_lstm",
            "encoder_lr_scale",
            "rew_end_lr_scale",
        )
        require(
            self.cond_channels % self.context == 0,
            f"world_model.cond_channels ({self.cond_channels}) must be divisible by context ({self.context})",
        )
        require(
            0.0 <= self.switch_prob <= 1.0,
            f"world_model.switch_prob must be in [0, 1], got {self.switch_prob}",
        )
        require(0.0 < self.ema_decay < 1.0, "world_model.ema_decay must be in (0, 1)")
        require(
            self.ablation in JEDI_ABLATIONS,
            f"world_model.ablation must be one of {', '.join(JEDI_ABLATIONS)}, got {self.ablation!r}",
        )


def require(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def positive(cfg, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        require(value > 0, f"{type(cfg).__name__}.{name} must be > 0, got {value}")

"""Networks: blocks (AdaGN residual blocks, attention), the conditional U-Net denoiser, the JEDI
encoder, the decoder/autoencoder, the reward/termination model and the actor-critic."""

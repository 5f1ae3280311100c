"""Networks: blocks (AdaGN residual blocks, attention), the conditional U-Net denoiser, the JEDI
encoder, the decoder/autoencoder and the actor-critic."""

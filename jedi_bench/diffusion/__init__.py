"""EDM (Karras et al. 2022) as DIAMOND uses it: preconditioning with offset noise, training noise
levels and loss (``edm``), and the Karras-schedule Euler/Heun samplers (``sampler``)."""

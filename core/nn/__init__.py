"""Models, the loss and the ELBO, the optimizer, beta schedules, latent codes, posteriors (torch)."""

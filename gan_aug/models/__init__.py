"""Networks: the conditional generator, the projection discriminator and a small classifier."""

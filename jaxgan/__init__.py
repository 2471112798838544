"""jaxgan: conditional GANs for Cherenkov-telescope images, and DCGAN, in JAX/Flax."""

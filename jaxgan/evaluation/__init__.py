"""Evaluators of generated telescope images: the measures (`hillas`, `metrics`), their figures
(`plots`), the judge network (`judge`), and the evaluation of a run (`telescope`), which the
training loop calls every `eval.every` steps and `python -m jaxgan.evaluate` calls once."""

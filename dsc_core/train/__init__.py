"""Training: losses (``losses``), data sampling (``sampling``) and the resumable loop (``loop``)."""

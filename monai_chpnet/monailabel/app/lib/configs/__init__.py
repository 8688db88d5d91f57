"""Task configs of the sample app: one module per model, named as ``--conf models <name>`` names it."""

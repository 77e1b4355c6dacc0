"""Clinical concept extraction (token classification over whole documents): ``task``, ``pipeline``
(``clinlm.load``), ``metrics``, ``export`` (ONNX) and ``commands``."""

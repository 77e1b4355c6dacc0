"""The ``clinlm`` command line: ``app`` (the root app and its groups), ``console`` and ``options``
(shared by every command module), ``annotate``, and ``main`` (the entry point, which gathers the
command modules). Nothing here is imported by the library itself."""

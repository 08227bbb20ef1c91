"""Building an export: SavedModels, the ScaNN index and the manifest, verified before publishing.

``build`` writes a version, ``verify`` checks it in a fresh process, ``gate``
decides which order the service answers in, ``commands`` is ``funnel export``
and ``funnel evaluate funnel``. The service (``serving``) only reads what
these wrote.
"""

"""Building an export: SavedModels, the ScaNN index and the manifest, verified before publishing.

``build`` writes a version, ``verify`` checks it in a fresh process, ``commands``
is ``funnel export``. The service (``serving``) only reads what these wrote;
the two share ``serving.contract`` and ``serving.ranking_rows`` and import
nothing of each other. The gate, which runs the service's engine on a staged
version, lives above both in ``serving.evaluation``; ``commands`` hands it to
the build.
"""

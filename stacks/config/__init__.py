"""Reading the project and stack files as the Pulumi CLI does, the typed settings, and located errors.

Layers: `base` (the strict model base) and `errors`/`sources` sit below every capability; `settings`
and `loader` sit above them (they validate each capability's part of the config), and `runtime` reads
the running stack's config for `__main__.py`.
"""

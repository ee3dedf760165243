"""Anatomies vizserver ships or fetches.

* :mod:`vizserver.anatomy.lv`: the procedural left ventricle of the Land et al. 2015 benchmark
  (``lv_surface()``, ``lv_tetra()``), also committed as small files in ``assets/``.
* :mod:`vizserver.anatomy.catalog`: published anatomies fetched on demand (``fetch()``,
  ``list_assets()``), described in ``assets/catalog.yaml``.

Import from the submodules; this package imports nothing so ``python -m vizserver.anatomy.lv`` runs clean.
"""

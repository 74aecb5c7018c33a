"""Learning from past typhoons: the storm history, model state per storm, observation operators,
calibration across storms with leave-one-storm-out cross-validation, and the verification suite.

Modules
-------
``records``
    the official impact figures of thirteen Zhejiang typhoons (2004–2019), packaged with sources.
``state``
    one storm through the model → a per-cell table (hazard, exposure, damage, outages), cached.
``operators``
    documented functions from a model state to each official statistic (受灾人口, 紧急转移安置 …).
``calibration``
    joint fit on training storms, LOSO cross-validation, predictive uncertainty, the shipped default.
``suite``
    ``rescity verify suite``: every storm, best track and hindcasts, scored against baselines.
"""

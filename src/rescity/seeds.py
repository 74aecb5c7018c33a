"""The default seed of rescity's random streams, defined once.

20190809 is the date of typhoon Lekima's landfall in Zhejiang (2019-08-09). Every command, job
and function that takes a seed defaults to :data:`DEFAULT_SEED`; the twin's generator seed and
the Monte Carlo seed are separate settings with this same default.
"""

DEFAULT_SEED: int = 20190809

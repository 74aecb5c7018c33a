"""rescity — the resilient city brain (韧性城市大脑).

Sense → twin → model → decide → coordinate → evaluate, for a city's lifelines under typhoons,
floods and earthquakes. See the README for the two commands that set it up and run it.
"""

__version__ = "0.1.0"

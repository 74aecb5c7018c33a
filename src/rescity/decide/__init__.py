"""rescity.decide"""

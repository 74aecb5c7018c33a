"""rescity.sense"""

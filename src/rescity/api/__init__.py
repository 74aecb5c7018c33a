"""rescity.api"""

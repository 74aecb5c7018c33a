"""rescity.forecast"""

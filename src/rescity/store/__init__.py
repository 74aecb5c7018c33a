"""rescity.store"""

"""rescity.engine"""

"""rescity.govern"""

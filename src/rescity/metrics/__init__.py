"""rescity.metrics"""

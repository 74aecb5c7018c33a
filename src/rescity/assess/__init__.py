"""rescity.assess"""

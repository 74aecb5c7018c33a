"""rescity.web"""

"""genomics"""

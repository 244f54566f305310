"""illumina"""

"""Outputs: rendering and report files; templates are package data."""

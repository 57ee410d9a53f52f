"""Screens: training (the app's base), runs, run detail, KL, help, confirmations."""

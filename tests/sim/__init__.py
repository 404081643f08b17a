"""Tests of costaware.sim, the local provider simulator."""

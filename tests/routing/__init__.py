"""Tests of costaware.core.routing: tiers, signals, policies, the auto classifier and cascades."""

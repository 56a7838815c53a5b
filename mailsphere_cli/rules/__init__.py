"""The rule engine: rules are data under rules/, code checks are named by `eval`."""

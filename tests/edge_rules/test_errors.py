from edge_rules.errors import RuleConfigError


def test_rule_config_error_names_path_and_reason():
    err = RuleConfigError("schedules.evening.on", "unknown anchor 'sunsett'")
    assert str(err) == "schedules.evening.on: unknown anchor 'sunsett'"
    assert err.path == "schedules.evening.on"
    assert isinstance(err, ValueError)

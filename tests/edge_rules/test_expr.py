from edge_rules.expr import ExprError, evaluate, parse, points_of, tokenize

GROUPS = {"A": ["L-001", "L-002", "L-003"]}
POINTS = {"L-001.driver_temp": 87.5, "L-002.driver_temp": 60, "LUX-1.lux": 12, "L-001.power": 40.0}


def value(text, points=POINTS):
    return evaluate(parse(text, GROUPS), points, GROUPS)


def rejects(text, fragment):
    try:
        parse(text, GROUPS)
    except ExprError as err:
        assert fragment in str(err), str(err)
        return
    raise AssertionError("accepted %r" % text)


def test_tokenizer_keeps_hyphenated_device_names():
    kinds = [(k, v) for k, v, _ in tokenize("L-001.driver_temp >= 85.5")]
    assert kinds == [("name", "L-001.driver_temp"), ("op", ">="), ("num", 85.5), ("end", None)]


def test_comparisons_and_boolean_logic():
    assert value("L-001.driver_temp > 85") is True
    assert value("L-002.driver_temp > 85") is False
    assert value("LUX-1.lux < 30 and not L-002.driver_temp > 85") is True
    assert value("LUX-1.lux > 30 or L-001.driver_temp >= 87.5") is True
    assert value("not (LUX-1.lux < 30 or false)") is False
    assert value("LUX-1.lux == 12 and LUX-1.lux != 13") is True


def test_precedence_and_arithmetic():
    assert value("1 + 2 * 3 == 7") is True
    assert value("(1 + 2) * 3 == 9") is True
    assert value("L-001.power / 2 - 20 == 0") is True
    assert value("-LUX-1.lux < -10") is True
    assert value("true or false and false") is True  # and binds tighter than or


def test_group_aggregates():
    assert value("max(A.driver_temp)") == 87.5
    assert value("min(A.driver_temp)") == 60.0
    assert value("avg(A.driver_temp)") == 73.75
    assert value("count(A.driver_temp)") == 2.0  # L-003 does not report
    assert value("max(A.voltage) > 0") is False  # nobody reports: missing, not zero
    assert sorted(points_of(parse("max(A.driver_temp) > LUX-1.lux", GROUPS), GROUPS)) == [
        "L-001.driver_temp", "L-002.driver_temp", "L-003.driver_temp", "LUX-1.lux"]


def test_missing_points_make_comparisons_false():
    assert value("L-009.driver_temp > 85") is False
    assert value("L-009.driver_temp < 85") is False
    assert value("L-009.driver_temp + 1 > 0") is False
    assert value("L-001.power / 0 > 1") is False


def test_bad_expressions_are_rejected_with_reason():
    rejects("L-001.driver_temp >", "expected a value")
    rejects("L-001.driver_temp > 85 85", "unexpected 85.0")
    rejects("driver_temp > 85", "is not a point")
    rejects("max(B.driver_temp) > 85", "known group")
    rejects("1 < L-001.x < 3", "chained comparison")
    rejects("L-001.x > 85 ; import os", "unexpected ';'")
    rejects("__import__('os')", "unexpected")
    rejects("(1 > 2", "expected ')'")
    rejects("L-001.x > 1..2", "bad number")

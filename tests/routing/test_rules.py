"""The pure distribution rules: which deals take part, which one wins, who receives, and the plan; plus the
alignment's sortable rank, which must order deals exactly as the rules do."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from b24app.routing.alignment import rank_key, rules_from
from b24app.routing.rules import Change, Deal, Rules, plan, takes_part, target_user, winning_deal

T0 = datetime(2026, 11, 1, 12, 0)


def deal(i: int, user: int = 10, *, cat: int = 0, stage: str = "NEW", closed: bool = False, modified: int = 0,
         created: int = 0, amount: float = 0.0, company: int = 0) -> Deal:
    return Deal(id=i, assigned_by=user, category_id=cat, stage_id=stage, closed=closed,
                modified=T0 + timedelta(hours=modified), created=T0 + timedelta(hours=created), opportunity=amount,
                company_id=company)


@pytest.mark.parametrize("rules, d, taking", [
    (Rules(), deal(1), True),
    (Rules(), deal(1, closed=True, stage="WON"), False),
    (Rules(categories=frozenset({1})), deal(1, cat=0), False),
    (Rules(categories=frozenset({1})), deal(1, cat=1, stage="C1:NEW"), True),
    (Rules(stages=frozenset({"WON"})), deal(1, closed=True, stage="WON"), True),   # a chosen stage counts
    (Rules(stages=frozenset({"NEW"})), deal(1, stage="PREPARATION"), False),
    (Rules(categories=frozenset({1}), stages=frozenset({"C1:NEW"})), deal(1, cat=2, stage="C1:NEW"), False),
])
def test_which_deals_take_part(rules, d, taking):
    assert takes_part(d, rules) is taking


def test_the_winner_by_each_setting():
    old_big = deal(1, 11, modified=1, created=5, amount=900)
    new_small = deal(2, 12, modified=9, created=9, amount=10)
    mid = deal(3, 13, modified=5, created=1, amount=500)
    closed_latest = deal(4, 14, modified=99, created=99, amount=10**6, closed=True)
    deals = [old_big, new_small, mid, closed_latest]
    assert winning_deal(deals, Rules()) == new_small
    assert winning_deal(deals, Rules(winner="newest")) == new_small
    assert winning_deal([old_big, mid], Rules(winner="newest")) == old_big
    assert winning_deal(deals, Rules(winner="largest")) == old_big
    assert winning_deal([closed_latest], Rules()) is None
    # ties: the later change, then the higher ID
    a, b = deal(5, amount=100, modified=1), deal(6, amount=100, modified=2)
    assert winning_deal([b, a], Rules(winner="largest")) == b
    c, d = deal(7, modified=3), deal(8, modified=3)
    assert winning_deal([d, c], Rules()) == d
    undated = Deal(id=9, assigned_by=1)
    assert winning_deal([undated, deal(1)], Rules()).id == 1


def test_who_receives():
    d = deal(1, 20)
    assert target_user(d, Rules()) == 20
    assert target_user(deal(1, 0), Rules()) is None
    fired = Rules(excluded=frozenset({20}))
    assert target_user(d, fired) is None                                       # keep
    head = Rules(excluded=frozenset({20}), on_excluded="head")
    assert target_user(d, head, {20: 7}) == 7
    assert target_user(d, head, {20: None}) is None
    assert target_user(d, head, {20: 20}) is None                              # he heads his own department
    assert target_user(d, Rules(excluded=frozenset({20, 7}), on_excluded="head"), {20: 7}) is None
    assert target_user(d, head) is None                                        # no heads known


def test_rules_of_settings_and_back():
    settings = type("S", (), {"categories": ["2", 1], "stages": ["C1:NEW"], "winner": "largest", "companies": 1,
                              "excluded_users": [5], "on_excluded": "head"})()
    rules = Rules.of(settings, inactive=[9])
    assert rules.categories == {1, 2} and rules.excluded == {5, 9} and rules.companies is True
    assert rules.as_dict() == {"categories": [1, 2], "stages": ["C1:NEW"], "winner": "largest", "companies": True,
                               "excluded": [5, 9], "on_excluded": "head"}
    assert rules_from(rules.as_dict()) == rules
    empty = type("S", (), {"categories": None, "stages": None, "winner": "", "companies": False,
                           "excluded_users": None, "on_excluded": ""})()
    assert Rules.of(empty) == Rules()


def test_plan_changes_only_what_differs_and_what_exists():
    deals_of = {100: [deal(1, 10, modified=1), deal(2, 11, modified=2)],   # 11 wins
                101: [deal(3, 12)],                                        # already right
                102: [deal(4, 13)],                                        # deleted on the portal
                103: [deal(5, 14, closed=True, stage="WON")],               # nothing takes part
                104: [deal(6, 9)]}                                         # a fired winner: kept
    current = {100: 10, 101: 12, 103: 1, 104: 3}
    got = plan(deals_of, current, Rules(excluded=frozenset({9})))
    assert got == [Change("contact", 100, 2, 10, 11)]
    assert plan(deals_of, current, Rules(), entity="company")[0].entity == "company"


def test_the_sortable_rank_orders_deals_as_the_rules_do():
    rng = random.Random(3)
    deals = []
    for i in range(1, 400):
        hours = rng.choice([None, rng.randrange(-10**5, 10**5)])
        moment = None if hours is None else T0 + timedelta(hours=hours, seconds=rng.random())
        deals.append(Deal(id=i, assigned_by=1, modified=moment, created=T0 - timedelta(days=rng.randrange(999)),
                          opportunity=rng.choice([0.0, 0.5, 10.0, 10.01, 2.5e9, rng.random() * 1e6])))
    for winner in ("modified", "newest", "largest"):
        keys = [rank_key(d, winner) for d in deals]
        assert all(len(k) <= 64 for k in keys)
        for _ in range(2000):
            a, b = rng.sample(range(len(deals)), 2)
            best = winning_deal([deals[a], deals[b]], Rules(winner=winner))
            assert (keys[a] > keys[b]) == (best is deals[a]), (winner, deals[a], deals[b])

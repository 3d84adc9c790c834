"""Which deal decides a contact's responsible, and who that is: plain functions over plain values (D1, D2, D4).

A deal **takes part** when it is in one of the chosen categories (all when none is chosen) and, when
stages are chosen, in one of them; with no stage chosen, every open deal (not CLOSED) takes part.
Of a contact's deals that take part the **winner** is, by the setting: the most recently modified
(default), the newest, or the largest (OPPORTUNITY), ties broken by the later change, then the higher ID.
The **target** is the winner's responsible, unless he never receives contacts (excluded in the
settings, or no longer active on the portal): then the contact keeps its responsible, or goes to
his department's head when the settings say so and the head may receive contacts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Rules:
    categories: frozenset[int] = frozenset()   # empty: every category
    stages: frozenset[str] = frozenset()       # empty: every open deal
    winner: str = "modified"                   # modified | newest | largest
    companies: bool = False
    excluded: frozenset[int] = frozenset()     # never receive contacts (settings ∪ inactive users)
    on_excluded: str = "keep"                  # keep | head

    @classmethod
    def of(cls, settings, inactive: Iterable[int] = ()) -> Rules:
        """From a RoutingSettings row (or anything with its fields) and the portal's inactive users."""
        return cls(categories=frozenset(int(c) for c in settings.categories or ()),
                   stages=frozenset(str(s) for s in settings.stages or ()),
                   winner=settings.winner or "modified", companies=bool(settings.companies),
                   excluded=frozenset(int(u) for u in settings.excluded_users or ()) | frozenset(inactive),
                   on_excluded=settings.on_excluded or "keep")

    def as_dict(self) -> dict:
        return {"categories": sorted(self.categories), "stages": sorted(self.stages), "winner": self.winner,
                "companies": self.companies, "excluded": sorted(self.excluded), "on_excluded": self.on_excluded}


@dataclass(frozen=True)
class Deal:
    id: int
    assigned_by: int
    category_id: int = 0
    stage_id: str = ""
    closed: bool = False
    modified: datetime | None = None
    created: datetime | None = None
    opportunity: float = 0.0
    contact_ids: tuple[int, ...] = field(default=())
    company_id: int = 0


def takes_part(deal: Deal, rules: Rules) -> bool:
    if rules.categories and deal.category_id not in rules.categories:
        return False
    if rules.stages:
        return deal.stage_id in rules.stages
    return not deal.closed


def _when(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("-inf")


def _rank(deal: Deal, winner: str) -> tuple:
    if winner == "newest":
        return (_when(deal.created), deal.id)
    if winner == "largest":
        return (deal.opportunity, _when(deal.modified), deal.id)
    return (_when(deal.modified), deal.id)


def winning_deal(deals: Iterable[Deal], rules: Rules) -> Deal | None:
    """The deal that decides, of a contact's (or company's) deals; None when none takes part."""
    taking = [d for d in deals if takes_part(d, rules)]
    return max(taking, key=lambda d: _rank(d, rules.winner)) if taking else None


def target_user(deal: Deal, rules: Rules, head_of: Mapping[int, int | None] | None = None) -> int | None:
    """Who should be responsible after `deal`; None: leave the responsible as it is."""
    user = int(deal.assigned_by or 0)
    if user <= 0:
        return None
    if user not in rules.excluded:
        return user
    if rules.on_excluded == "head":
        head = (head_of or {}).get(user)
        if head and head != user and head not in rules.excluded:
            return int(head)
    return None


@dataclass(frozen=True)
class Change:
    entity: str        # "contact" | "company"
    entity_id: int
    deal_id: int
    old_user_id: int
    new_user_id: int


def plan(deals_of: Mapping[int, Iterable[Deal]], current: Mapping[int, int], rules: Rules,
         head_of: Mapping[int, int | None] | None = None, entity: str = "contact") -> list[Change]:
    """The changes that make each entity's responsible its winning deal's target. `deals_of` maps an
    entity ID to its deals, `current` to its responsible now; an entity absent from `current` (the portal
    says it does not exist) is left out, as is one already right."""
    out = []
    for entity_id in sorted(deals_of):
        if entity_id not in current:
            continue
        deal = winning_deal(deals_of[entity_id], rules)
        if deal is None:
            continue
        new = target_user(deal, rules, head_of)
        old = int(current[entity_id] or 0)
        if new is not None and new != old:
            out.append(Change(entity, entity_id, deal.id, old, new))
    return out

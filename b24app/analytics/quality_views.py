"""Quality figures from the reviewers' scores: cards by stage, scores per manager, topic, checklist, reviewer."""

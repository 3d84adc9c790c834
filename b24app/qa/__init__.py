"""Quality control: the «Оценка качества звонков» smart process, its QA cards, later checklists and scoring."""

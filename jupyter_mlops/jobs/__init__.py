"""Production jobs: schedules that fire pipelines, notebooks and monitors exactly once, and their alerts.

Schedules and their occurrences live in the store (:mod:`.schedules`, :mod:`.claims`), so any
number of schedulers (:mod:`.scheduler`) agree on what is due and who fires it; a job runs in a
process of its own (:mod:`.job`) and is recorded as an ordinary run tagged with its schedule.
"""

"""Restoring a snapshot into another engine: the translation plan, ids that survive, values that survive.

:mod:`.documents` turns a stored document of any engine into a neutral one (undoing what an earlier
translation changed) and a neutral one into a target engine's stored form; :mod:`.plan` runs every
document of a collection through it before anything is written, so the plan counts what each step
touches and a lossy step is refused unless allowed. docs/restore.md, "Restoring into another engine",
is the user's account. No Airflow here.
"""

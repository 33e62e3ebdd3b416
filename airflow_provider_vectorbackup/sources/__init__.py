"""Where vectors come from and go back to: each source behind one protocol (:mod:`.base`), free of Airflow."""

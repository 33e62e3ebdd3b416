"""The backup jobs themselves, free of Airflow's task context: the operators and the CLI both run these."""

"""Pipeline stages: each module holds pure functions plus a thin Prefect `@task` wrapper."""

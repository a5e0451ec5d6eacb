"""Tandem's process runner: an embedded PostgreSQL cluster, the API and the web app.

`python -m tandem_stack db|api|run|dev` is what `make db|api|run|dev` runs;
`tandem_stack.throwaway.throwaway_postgres` gives test suites a fresh cluster.
"""

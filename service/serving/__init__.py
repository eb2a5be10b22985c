"""Running the app as processes: `attache serve --workers N` runs uvicorn's supervisor with
SIGHUP forwarded to each worker as "reload the registry" (`supervisor`), and the workers share
Prometheus metrics through one prepared folder of files (`multiprocess`).
"""

"""The registry sidecar: driftgate's control plane, in parts (docs/architecture.md, "Module map").

    store/        the database: engine and core tables, schema revisions (Alembic), the storage boundary
    catalogue/    models, versions, artifacts, traffic and the audit log; what gateways say they hold
    observation/  what gateways report, summed: drift, traffic history, scored rows and labels, accuracy
    loop/         the closed loop: retrain (plugins, the trainer's process), canary rollouts, the controller
    access/       the API tokens the registry keeps
    replicas/     which replica leads, and followers passing reports on to it
    api/          the adapters: the driftgate.v1 gRPC services, the config fan-out, Prometheus metrics
    dashboard/    the web adapter: the dashboard's pages and actions over the same core (docs/dashboard.md)
    server.py     the composition root: builds every part from Settings and serves them (RegistryServer)

This package imports nothing itself: callers import a part's module by its path.
"""

"""The registry's adapters: the driftgate.v1 gRPC services (grpc_api, tokens_api, feedback_api,
rollout_api), messages <-> records (convert), the desired config's fan-out to watchers (watch) and
the Prometheus metrics read at scrape time (metrics)."""

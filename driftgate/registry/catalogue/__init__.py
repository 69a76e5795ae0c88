"""The catalogue: models, versions, artifacts, traffic and the audit log (catalogue, records), the
checks a version passes before it is written (validation), where artifact bytes live (artifacts,
artifact_db), and what the gateways say they hold (gateways). Transport-free."""

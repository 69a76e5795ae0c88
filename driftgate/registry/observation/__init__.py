"""What the gateways report, summed and judged: drift (aggregate: every gateway's windows and the
alerts' state machine; observe: the monitor and its reports), per-version traffic over recent
windows (stats, stats_report), scored rows and the labels joined to them (labels: the store, over
scored_tables, chunks: the columnar codec, row_ids: id hash and comparison, label_join, retention,
held_labels) and the accuracy they give (accuracy). Transport-free."""

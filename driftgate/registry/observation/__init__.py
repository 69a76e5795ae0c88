"""What the gateways report, summed and judged: drift windows and their alerts (aggregate, observe),
per-version traffic over recent windows (stats, stats_report), scored rows and the labels joined to
them (labels, held_labels) and the accuracy they give (accuracy). Transport-free."""

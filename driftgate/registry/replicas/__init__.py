"""Several registry replicas over one database: which one leads the loops (leader), and followers
passing the gateway reports they take on to it (forward)."""

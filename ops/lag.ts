// Replication lag: what the primary's pg_stat_replication, pg_replication_slots and pg_stat_activity
// say about each replica and about commits waiting for synchronous standbys, normalised, checked
// against thresholds and rendered. One module per stage under lag/; everything but sampling is pure.
export * from "./lag/args";
export * from "./lag/model";
export * from "./lag/sample";
export * from "./lag/evaluate";
export * from "./lag/render";

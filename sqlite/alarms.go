package sqlite

// schemaAlarms holds the tables of alarms, rule state and the de-duplication window (alarmd ingest and rules).
var schemaAlarms = ``

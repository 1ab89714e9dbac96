package sqlite

// schemaEscalation holds the tables of escalation: chain progress and every contact attempt.
var schemaEscalation = ``

package sqlite

// schemaRegister holds the tables of the care register: elders, visits, schedules.
var schemaRegister = ``

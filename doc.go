// Package anxin holds the domain of anxin (安心): the normalized messages that
// gateways publish, households and their contact chains, alarms, visits and
// risk tiers, and the interfaces that the packages named after a dependency
// implement (sqlite/, mqtt/, influx/, twilio/). Nothing in this package does
// I/O; cmd/gatewayd and cmd/alarmd wire the pieces together.
package anxin

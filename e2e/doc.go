// Package e2e holds anxin's end-to-end, fault and load tests: the real
// gatewayd and alarmd binaries (built into the test's temp dir), a real
// mosquitto, ptys playing the devices and an in-process fake Twilio
// (twilio/twiliotest) reached over real HTTP. The package has no code of
// its own; see docs/walkthrough.md and docs/deployment.md for what the
// tests stand for, and README.md here for what each test proves.
package e2e

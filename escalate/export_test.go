package escalate

// PhoneTag lets tests build the HMAC links sent before short tokens.
var PhoneTag = phoneTag

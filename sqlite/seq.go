package sqlite

import "sync/atomic"

// memSeq names private in-memory databases.
var memSeq atomic.Int64

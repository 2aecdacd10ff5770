package storage

import "context"

// Pinger is implemented by backends that can check, cheaply and without
// touching any file, that the store answers (s3store: HEAD on the bucket).
// Readiness probes ask the server's own backend, not a wrapper, for it; a
// backend without it is asked to Stat "/".
type Pinger interface {
	Ping(ctx context.Context) error
}

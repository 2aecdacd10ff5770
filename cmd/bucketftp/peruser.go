package main

import "github.com/bucketftp/bucketftp/auth"

// bandwidthConfig is the server's transfer limits from --bandwidth-up,
// --bandwidth-down and --bandwidth-per-address.
func bandwidthConfig(c *config) auth.BandwidthConfig {
	return auth.BandwidthConfig{Up: int64(c.BandwidthUp), Down: int64(c.BandwidthDown), PerAddress: int64(c.BandwidthPerAddress)}
}

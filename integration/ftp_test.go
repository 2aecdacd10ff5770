package integration

import (
	"testing"

	"github.com/bucketftp/bucketftp/ftp/ftptest"
	"github.com/bucketftp/bucketftp/storage"
)

// TestFTPSuiteOnMinIO runs the whole end-to-end suite (raw replies and real
// clients) with S3 storage: each case gets its own bucket.
func TestFTPSuiteOnMinIO(t *testing.T) {
	t.Parallel()
	ftptest.Run(t, func(t *testing.T) storage.Backend {
		return shared.newStore(t, shared.newBucket(t), "ftp")
	})
}

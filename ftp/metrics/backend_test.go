package metrics

import (
	"testing"

	"github.com/bucketftp/bucketftp/storage/storagetest"
)

func TestBackendKeepsAbilities(t *testing.T) {
	t.Parallel()
	m := New(func() int64 { return 0 })
	storagetest.CheckWrap(t, m.Backend)
}

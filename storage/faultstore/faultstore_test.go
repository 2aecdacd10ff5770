package faultstore_test

import (
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/faultstore"
	"github.com/bucketftp/bucketftp/storage/storagetest"
)

func TestKeepsAbilities(t *testing.T) {
	t.Parallel()
	storagetest.CheckWrap(t, func(b storage.Backend) storage.Backend { return faultstore.New(b) })
}

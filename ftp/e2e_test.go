package ftp_test

import (
	"testing"

	"github.com/bucketftp/bucketftp/ftp/ftptest"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/localstore"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

func TestSuiteOnMemory(t *testing.T) {
	t.Parallel()
	ftptest.Run(t, func(t *testing.T) storage.Backend { return memstore.New() })
}

func TestSuiteOnLocalDirectory(t *testing.T) {
	t.Parallel()
	ftptest.Run(t, func(t *testing.T) storage.Backend {
		s, err := localstore.New(localstore.Config{Root: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

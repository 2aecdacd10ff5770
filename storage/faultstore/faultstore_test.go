package faultstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/faultstore"
	"github.com/bucketftp/bucketftp/storage/memstore"
	"github.com/bucketftp/bucketftp/storage/storagetest"
)

func TestKeepsAbilities(t *testing.T) {
	t.Parallel()
	storagetest.CheckWrap(t, func(b storage.Backend) storage.Backend { return faultstore.New(b) })
}

// TestListFaultCoversWildcards: a "list" fault fails wildcard listings too
// (ListFrom through ListPrefix), so fault tests of listings cover them.
func TestListFaultCoversWildcards(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	mem := memstore.New()
	for _, d := range []string{"/d", "/e"} {
		if err := mem.Mkdir(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, err := mem.Put(ctx, d+"/ab", strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	fs := faultstore.New(mem)
	if !storage.Has[storage.PrefixLister](fs) {
		t.Fatal("the fault store hides PrefixLister")
	}
	broken := storage.E("list", "/d", storage.ErrTransient, nil)
	fs.SetFault("list", func(dir string) error {
		if dir == "/d" {
			return broken
		}
		return nil
	})
	list := func(dir string) (string, error) {
		var names []string
		for e, err := range storage.ListFrom(ctx, fs, dir, "a") {
			if err != nil {
				return "", err
			}
			names = append(names, e.Name)
		}
		return strings.Join(names, ","), nil
	}
	if got, err := list("/d"); !errors.Is(err, broken) {
		t.Errorf("wildcard listing of /d with a list fault: %q, %v; want the fault", got, err)
	}
	if got, err := list("/e"); err != nil || got != "ab" {
		t.Errorf("wildcard listing of /e: %q, %v; want ab", got, err)
	}
	fs.SetFault("list", nil)
	if got, err := list("/d"); err != nil || got != "ab" {
		t.Errorf("wildcard listing of /d after the fault cleared: %q, %v; want ab", got, err)
	}
}

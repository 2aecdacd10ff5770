package storage

import (
	"context"
	"iter"
	"strings"
)

// PrefixLister is implemented by backends that can list only the entries
// of a directory whose names start with a prefix, without reading the
// others (S3's ListObjectsV2 Prefix). FTP wildcards list through it, by
// ListFrom; it is one of the Abilities, so wrappers pass it on.
type PrefixLister interface {
	// ListPrefix is List of dir restricted to names starting with prefix,
	// in the same order. A directory with no such entry lists nothing, and
	// no error; a missing one lists nothing or ErrNotFound. Names never
	// hold "/", so a prefix with one matches nothing. ListFrom never
	// passes the empty prefix (that is List).
	ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[Entry, error]
}

// ListFrom lists the entries of dir whose names start with prefix: through
// the backend's PrefixLister when it has one, otherwise by filtering List.
func ListFrom(ctx context.Context, b Backend, dir, prefix string) iter.Seq2[Entry, error] {
	if prefix == "" {
		return b.List(ctx, dir)
	}
	if pl, ok := As[PrefixLister](b); ok {
		return pl.ListPrefix(ctx, dir, prefix)
	}
	return func(yield func(Entry, error) bool) {
		for e, err := range b.List(ctx, dir) {
			if err != nil {
				yield(e, err)
				return
			}
			if strings.HasPrefix(e.Name, prefix) && !yield(e, nil) {
				return
			}
		}
	}
}

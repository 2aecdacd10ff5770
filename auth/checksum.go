package auth

import (
	"context"
	"io"

	"github.com/bucketftp/bucketftp/storage"
)

// hashed is an upload's data read through the checksums the upload's
// context asks for (storage.WithHashing), so they are computed in the same
// pass that stores it, whatever the backend. off is where the upload starts
// in the file: an upload that keeps bytes of the file (APPE, REST+STOR) is
// not hashed, since its checksums would not be the file's, and a checksum
// the client declared for it is refused.
func hashed(ctx context.Context, op, name string, off int64, r io.Reader) (io.Reader, error) {
	h := storage.HashingFrom(ctx)
	switch {
	case h == nil:
		return r, nil
	case off > 0 && len(h.Expected()) > 0:
		return nil, storage.E(op, name, storage.ErrNotSupported, storage.ErrDeclaredWhole)
	case off > 0:
		return r, nil
	}
	return h.Reader(r), nil
}

// needForChecksums refuses a Stat that asks for the file's recorded
// checksums (storage.WithChecksumQuery) to a user who may not read it: a
// checksum tells about the content.
func (s *scoped) needForChecksums(ctx context.Context, name string) error {
	if storage.ChecksumQueryFrom(ctx) == nil {
		return nil
	}
	return s.need("hash", name, PermRead)
}

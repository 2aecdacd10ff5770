package faultstore

import "github.com/bucketftp/bucketftp/storage"

var _ storage.Locator = (*Store)(nil)

// Locate passes the question on: it touches no data, so it never fails
// on purpose.
func (s *Store) Locate(name string) (storage.Location, error) {
	l, ok := storage.As[storage.Locator](s.b)
	if !ok {
		return storage.Location{}, storage.E("locate", name, storage.ErrNotSupported, nil)
	}
	return l.Locate(name)
}

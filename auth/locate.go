package auth

import "github.com/bucketftp/bucketftp/storage"

var _ storage.Locator = (*scoped)(nil)

// Locate is where the user's name is stored: the base's location of the
// name under the user's home.
func (s *scoped) Locate(name string) (storage.Location, error) {
	l, ok := storage.As[storage.Locator](s.base)
	if !ok {
		return storage.Location{}, storage.E("locate", name, storage.ErrNotSupported, nil)
	}
	return l.Locate(s.full(name))
}

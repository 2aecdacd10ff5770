package metrics

import "github.com/bucketftp/bucketftp/storage"

var _ storage.Locator = (*timed)(nil)

// Locate passes the question on; it is no storage operation to time.
func (t *timed) Locate(name string) (storage.Location, error) {
	l, ok := storage.As[storage.Locator](t.b)
	if !ok {
		return storage.Location{}, storage.E("locate", name, storage.ErrNotSupported, nil)
	}
	return l.Locate(name)
}

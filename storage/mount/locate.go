package mount

import "github.com/bucketftp/bucketftp/storage"

var _ storage.Locator = (*Router)(nil)

// Locate asks the storage that owns name.
func (r *Router) Locate(name string) (storage.Location, error) {
	b, inner, _ := r.route(name)
	l, ok := storage.As[storage.Locator](b)
	if !ok {
		return storage.Location{}, storage.E("locate", name, storage.ErrNotSupported, nil)
	}
	return l.Locate(inner)
}

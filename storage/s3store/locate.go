package s3store

import "github.com/bucketftp/bucketftp/storage"

var _ storage.Locator = (*Store)(nil)

// Locate names the bucket and key of name (storage.Locator).
func (s *Store) Locate(name string) (storage.Location, error) {
	k, err := s.key("locate", name)
	if err != nil {
		return storage.Location{}, err
	}
	return storage.Location{Bucket: s.cfg.Bucket, Key: k}, nil
}

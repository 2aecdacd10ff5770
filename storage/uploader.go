package storage

import (
	"context"
	"maps"
	"sync"
)

// Uploader is who is storing a file: carried in the context of Put and
// Append so a backend can record it with the object (s3store writes it as
// x-amz-meta-bucketftp-user, -client and -session), without the Backend
// interface knowing about sessions.
type Uploader struct {
	User    string // the logged-in user
	Client  string // the client's address and port (a PROXY header's, when trusted)
	Session string // the session id, as in the server's logs
}

// Uploaded is what a backend reports about an object it stored: filled in
// by the backend when the context carries one (WithUploaded), read by the
// front end for the upload's event. Zero fields are unknown.
type Uploaded struct {
	mu        sync.Mutex
	etag      string
	versionID string
	checksums map[string]string
	kept      int64 // bytes kept for resuming, of an interrupted upload
}

type uploaderKey struct{}
type uploadedKey struct{}

// WithUploader returns ctx carrying u.
func WithUploader(ctx context.Context, u Uploader) context.Context {
	return context.WithValue(ctx, uploaderKey{}, u)
}

// UploaderFrom returns the uploader ctx carries.
func UploaderFrom(ctx context.Context) (Uploader, bool) {
	u, ok := ctx.Value(uploaderKey{}).(Uploader)
	return u, ok
}

// WithUploaded returns ctx carrying a new, empty Uploaded that the backend
// storing an object under ctx fills in.
func WithUploaded(ctx context.Context) (context.Context, *Uploaded) {
	u := &Uploaded{}
	return context.WithValue(ctx, uploadedKey{}, u), u
}

// RecordUpload is called by a backend once an object is stored: etag and
// versionID as the store reports them ("" when it has none), checksums as
// algorithm name -> lowercase hex (nil when none). Without an Uploaded in
// ctx it does nothing.
func RecordUpload(ctx context.Context, etag, versionID string, checksums map[string]string) {
	u, ok := ctx.Value(uploadedKey{}).(*Uploaded)
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.etag, u.versionID, u.checksums = etag, versionID, maps.Clone(checksums)
}

// AddUploadSums adds checksums (algorithm name as in RecordUpload ->
// lowercase hex) to what the backend recorded of the upload under ctx.
func AddUploadSums(ctx context.Context, checksums map[string]string) {
	u, ok := ctx.Value(uploadedKey{}).(*Uploaded)
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.checksums == nil {
		u.checksums = map[string]string{}
	}
	maps.Copy(u.checksums, checksums)
}

// RecordKept is called by a backend that kept n bytes of an interrupted
// upload for its owner to resume (none is visible). Without an Uploaded in
// ctx it does nothing.
func RecordKept(ctx context.Context, n int64) {
	u, ok := ctx.Value(uploadedKey{}).(*Uploaded)
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.kept = n
}

// Kept is what RecordKept recorded: 0 when nothing was kept.
func (u *Uploaded) Kept() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.kept
}

// Result returns what the backend recorded.
func (u *Uploaded) Result() (etag, versionID string, checksums map[string]string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.etag, u.versionID, maps.Clone(u.checksums)
}

type confinementKey struct{}

// WithConfinement returns ctx telling the backend that names under dir (a
// clean absolute name: a user's home, a mount's target) belong to one
// user's view: a backend with symbolic links (a local directory) must not
// follow one from inside dir to outside it. S3 has no links.
func WithConfinement(ctx context.Context, dir string) context.Context {
	return context.WithValue(ctx, confinementKey{}, dir)
}

// ConfinementFrom returns the directory ctx confines names to, if any.
func ConfinementFrom(ctx context.Context) (string, bool) {
	d, ok := ctx.Value(confinementKey{}).(string)
	return d, ok
}

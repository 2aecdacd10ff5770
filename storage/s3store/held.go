package s3store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketftp/bucketftp/storage"
)

var _ storage.HeldPutter = (*Store)(nil)

// PutHeld stores r as Put does but holds it back (storage.HeldPutter): an
// upload that fits in the first part is kept in memory (at most one part)
// and PUT once at Publish; a larger one is a multipart upload created
// under final's key whose parts are all stored, completed only at
// Publish. Publishing to final is then one request and no copy; to
// another name it is the completion and one copy (see Publish).
func (s *Store) PutHeld(ctx context.Context, name, final string, r io.Reader, size int64) (storage.Held, int64, error) {
	fk, err := s.key("put", final)
	if err != nil {
		return nil, 0, err
	}
	h := &held{s: s, name: name, finalKey: fk}
	n, err := s.Put(context.WithValue(ctx, holdCtxKey{}, h), name, r, size)
	if err != nil {
		return nil, n, err
	}
	h.size = n
	return h, n, nil
}

// AppendHeld continues, held back again, the user's interrupted held
// upload of name (storage.HeldPutter): a multipart upload created under
// final's key (or one of its own, holdKey) whose client went away, kept
// with a record under name's key (resume.go). Anything else is
// storage.ErrNoHeldUpload, with nothing read.
func (s *Store) AppendHeld(ctx context.Context, name, final string, off int64, r io.Reader) (storage.Held, int64, error) {
	k, err := s.key("append", name)
	if err != nil {
		return nil, 0, err
	}
	// The user's records as this session last read them (the front end's
	// Stat before a REST + STOR or APPE read them) tell whether there is a
	// held upload to continue: no request for the other uploads, which
	// Append then serves (reading the record itself, where there is one).
	none := storage.E("append", name, storage.ErrNoHeldUpload, nil)
	user, ok := s.owner(ctx)
	if !ok {
		return nil, 0, none
	}
	rec := s.pendingList(ctx, user).recs[k]
	if rec == nil || rec.UploadKey == "" {
		return nil, 0, none
	}
	// Published from where the upload was created: final's key, or a key
	// of its own (holdKey).
	h := &held{s: s, name: name, finalKey: rec.UploadKey}
	n, ok, err := s.continuePending(context.WithValue(ctx, holdCtxKey{}, h), name, k, off, r)
	switch {
	case !ok && err == nil:
		return nil, 0, none
	case err != nil:
		return nil, n, err
	}
	h.size = off + n
	return h, n, nil
}

type holdCtxKey struct{}

// holdOf is the held upload an upload's context asks for, or nil: upload
// (upload.go) then keeps a small upload's bytes, starts a large one under
// the predicted key and does not complete it.
func holdOf(ctx context.Context) *held {
	h, _ := ctx.Value(holdCtxKey{}).(*held)
	return h
}

// holdKey is the key a multipart upload of name (at key) is created
// under: for a held upload, the predicted final key, unless an object is
// there; else key. Publishing under another name completes the upload
// where it was created, so over an object at the predicted key it would
// replace that object until it is put back (seen by readers and bucket
// notifications, a new version in a versioned bucket): a drop box that
// may not overwrite the final name would do just that by uploading to
// its temp name and not renaming. Such an upload is created under a key
// of its own in the reserved prefix, PREFIX/.bucketftp/held/ID, which no
// FTP user or S3 consumer of the files sees; publishing it, under any
// name, is then the completion there and one copy.
func (s *Store) holdKey(ctx context.Context, name, key string) string {
	h := holdOf(ctx)
	if h == nil || h.finalKey == key {
		return key
	}
	if _, err := s.head(ctx, "put", name, h.finalKey); !errors.Is(err, storage.ErrNotFound) {
		// An object there, or no answer.
		h.finalKey = s.docKey("held/" + rand.Text())
	}
	return h.finalKey
}

// held is one upload PutHeld holds: data (small) or mp (multipart).
type held struct {
	s        *Store
	name     string
	finalKey string
	size     int64

	mu     sync.Mutex
	data   []byte
	in     *s3.PutObjectInput // a small upload's PUT but for bucket, key and body: metadata, CRC32
	mp     *multipart         // parts all stored, not completed
	stored bool               // no room to hold it: PUT under name at once
	// completed: a multipart one was completed where it was created but
	// not yet moved (a copy failed); saved is what was there, kept aside.
	completed bool
	saved     string
	done      bool
	free      func() // gives the held bytes back to the memory budget
}

// keep takes a small upload's bytes (a copy: the part buffer goes back to
// the pool at once), with what its PUT will carry: the metadata and the
// checksums computed as it streamed in (checksums.go), the CRC32 for the
// store to verify. The copy counts against the memory budget until the
// upload is published or discarded; where the budget has no room for it,
// keep takes nothing and reports false, and the upload is stored under
// its own name at once (stored), as without holding.
func (h *held) keep(b []byte, release func(), meta map[string]string, sums *upSums) bool {
	weight := max(int64(len(b)), 1)
	// Held bytes take at most a quarter of the budget, so that sessions
	// holding files for the hold time do not leave the uploads beside
	// them waiting for buffers.
	if h.s.heldBytes.Add(weight) > h.s.cfg.MemoryBudget/4 || !h.s.budget.TryAcquire(weight) {
		h.s.heldBytes.Add(-weight)
		h.stored = true
		return false
	}
	var once sync.Once
	h.free = func() {
		once.Do(func() {
			h.s.budget.Release(weight)
			h.s.heldBytes.Add(-weight)
		})
	}
	h.data = bytes.Clone(b)
	if h.data == nil {
		h.data = []byte{}
	}
	h.in = &s3.PutObjectInput{Metadata: meta}
	sums.put(h.in, h.data)
	release()
	return true
}

// Publish makes the held upload the object of name. A small one is one
// PutObject. A multipart one is completed under the predicted key: for
// that name nothing else happens; for another name the completed object
// is copied there and removed from the predicted key, and a file that was
// at the predicted key is kept aside and put back (two more copies), so
// publishing elsewhere never loses it.
func (h *held) Publish(ctx context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return storage.E("publish", name, storage.ErrNotFound, errors.New("the held upload is gone"))
	}
	s := h.s
	k, err := s.key("rename", name)
	if err != nil {
		return err
	}
	if h.stored { // stored under its own name already: a rename as any
		if name != h.name {
			if err := s.Rename(ctx, h.name, name); err != nil {
				return err
			}
		}
		h.done = true
		return nil
	}
	if err := s.notDir(ctx, "rename", name, k); err != nil {
		return err
	}
	if h.mp == nil {
		pctx, cancel := context.WithTimeout(ctx, s.partTimeout(int64(len(h.data))))
		defer cancel()
		in := *h.in
		in.Bucket, in.Key, in.Body, in.ContentLength = &s.cfg.Bucket, &k, bytes.NewReader(h.data), aws.Int64(int64(len(h.data)))
		out, err := s.putSummed(&in, h.data, func(in *s3.PutObjectInput) (*s3.PutObjectOutput, error) {
			out, err := s.c.PutObject(pctx, in, unsignedWith(in.ChecksumCRC32)...)
			return out, classify("rename", name, err)
		})
		if err != nil {
			return err
		}
		recordPut(ctx, out)
		h.done, h.data = true, nil
		h.free()
		return nil
	}
	if k == h.finalKey && h.completed { // completed there, its copy elsewhere failed
		h.done = true
		if h.saved != "" { // the file it replaces, kept aside
			_ = s.deleteKey(ctx, name, h.saved)
		}
		return nil
	}
	if k == h.finalKey {
		etag, err := h.mp.complete(ctx)
		if err != nil {
			return err
		}
		h.done = true
		h.mp.sums.tag(ctx, name, h.finalKey, etag) // the upload's checksums (checksums.go)
		return nil
	}
	return h.publishElsewhere(ctx, name, k)
}

// publishElsewhere completes the upload where it was created and moves
// it to k, keeping what was at that key (a file that appeared at the
// predicted key meanwhile; nothing at a reserved key). A copy that fails
// leaves the upload completed where it is and held: Publish tries the
// copy again, Abort puts back what was there.
func (h *held) publishElsewhere(ctx context.Context, name, k string) error {
	s := h.s
	if !h.completed {
		if head, err := s.head(ctx, "rename", name, h.finalKey); err == nil {
			h.saved = s.docKey("held/" + h.mp.id)
			if _, err := s.copyObject(ctx, name, h.finalKey, h.saved, aws.ToInt64(head.ContentLength), nil); err != nil {
				h.saved = ""
				return err
			}
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		etag, err := h.mp.complete(ctx)
		if err != nil {
			if h.saved != "" {
				_ = s.deleteKey(ctx, name, h.saved)
				h.saved = ""
			}
			return err
		}
		h.completed = true
		h.mp.sums.tag(ctx, name, h.finalKey, etag) // carried by the copy to k
	}
	if _, err := s.copyObject(ctx, name, h.finalKey, k, h.size, nil); err != nil {
		s.log.Error("held upload completed but not moved; it stays held", "key", h.finalKey, "to", k, "err", err)
		return err
	}
	h.done = true
	return h.restore(ctx, name)
}

// restore puts back what was where a held upload was completed: the file
// kept aside, or nothing.
func (h *held) restore(ctx context.Context, name string) error {
	s := h.s
	if h.saved == "" {
		return s.deleteKey(ctx, name, h.finalKey)
	}
	head, err := s.head(ctx, "rename", name, h.saved)
	if err != nil {
		return err
	}
	if _, err := s.copyObject(ctx, name, h.saved, h.finalKey, aws.ToInt64(head.ContentLength), nil); err != nil {
		return err
	}
	return s.deleteKey(ctx, name, h.saved)
}

// Abort discards the held upload.
func (h *held) Abort(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return nil
	}
	h.done, h.data = true, nil
	switch {
	case h.stored:
		return h.s.Remove(ctx, h.name)
	case h.completed:
		return h.restore(ctx, h.name)
	case h.mp != nil:
		h.mp.abort(ctx)
	default:
		h.free()
	}
	return nil
}

// deleteKey removes one object; a missing one is no error.
func (s *Store) deleteKey(ctx context.Context, name, key string) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil && !errors.Is(classify("rename", name, err), storage.ErrNotFound) {
		return classify("rename", name, err)
	}
	return nil
}

package s3store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketftp/bucketftp/storage"
)

// Resumable uploads (docs/s3.md, "Interrupted uploads"):
//
// A multipart upload whose client went away (the data connection broke or
// stalled, the control connection closed, ABOR, or the server's shutdown
// grace ended) is not aborted: its whole parts stay stored, and a record
// of it is written as a shared document
//
//	PREFIX/.bucketftp/resume/USER/HASH.json
//
// (USER path-escaped, HASH from the object key) with the upload id, the
// parts with their ETags, sizes and CRC32s, the owner and the key. Nothing
// is visible in the bucket: the object exists only once the upload is
// completed. For the owner, Stat reports the file with the stored length
// and listings show it; REST <length> + STOR, or APPE, continues the same
// multipart upload from the next part, from any replica, and completes it;
// a plain STOR or a DELE discards it. After the resume window without a
// continuation, the periodic cleanup aborts it.
//
// A continuing session holds a lease in the record (renewed while it
// runs), so two sessions never add parts to one upload at once.
//
// Only whole parts count: the last, short part of an interrupted upload
// is not kept (it could not be followed by more parts), so the client
// resends from the end of the last whole part. An upload that failed for
// any other reason (quota, checksum, permission, the store) is aborted.

// resumeArea holds the records, in the store's shared documents.
const resumeArea = "resume/"

// leaseTTL is how long a continuation's lease lasts unless renewed; it is
// renewed every leaseTTL/3 while the continuation runs.
const leaseTTL = time.Minute

// pendingUpload is a record of an interrupted multipart upload.
type pendingUpload struct {
	User string `json:"user"`
	Key  string `json:"key"` // where the owner sees the file
	// UploadKey is the key the multipart upload was created under, when
	// it is not Key: a held temp-name upload's (held.go) is under the
	// final name's key, and is continued held again, then published.
	UploadKey string            `json:"upload_key,omitempty"`
	Name      string            `json:"name"` // the path as the store saw it, for logs
	UploadID  string            `json:"upload_id"`
	PartSize  int64             `json:"part_size"` // the store's part size when the upload began
	Parts     []pendingPart     `json:"parts"`     // whole parts, numbered from 1 without gaps
	Size      int64             `json:"size"`      // the bytes the parts hold
	CRC32     bool              `json:"crc32"`     // created with a full-object CRC32 (checksums.go)
	Meta      map[string]string `json:"meta,omitempty"`
	Created   time.Time         `json:"created"`
	Updated   time.Time         `json:"updated"` // the window runs from here
	Lease     string            `json:"lease,omitempty"`
	LeaseEnd  time.Time         `json:"lease_until,omitzero"`
	// Hashes is the state of the upload's checksums (SHA-256, ...) after
	// its whole parts (storage.Hashing.State), so a continuation's
	// checksums are the whole file's; none when not known.
	Hashes map[string][]byte `json:"hashes,omitempty"`
}

// uploadKey is the key of rec's multipart upload.
func (rec *pendingUpload) uploadKey() string { return cmp.Or(rec.UploadKey, rec.Key) }

type pendingPart struct {
	N    int32  `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
	CRC  uint32 `json:"crc32,omitempty"`
}

func pendingDoc(user, key string) string {
	h := sha256.Sum256([]byte(key))
	return resumeArea + url.PathEscape(user) + "/" + hex.EncodeToString(h[:16]) + ".json"
}

// keepPending records mp's whole parts for a later continuation instead of
// aborting it, when the upload was interrupted and is resumable; it
// reports whether it did. prior is the record the upload continued (nil
// for a new upload), version its document's version.
func (s *Store) keepPending(ctx context.Context, mp *multipart, err error, prior *pendingUpload, version string) bool {
	user, ok := s.owner(ctx)
	if !ok || !storage.Interrupted(ctx, err) || mp.id == "" {
		return false
	}
	rec := &pendingUpload{User: user, Key: mp.shownKey(), Name: mp.name, UploadID: mp.id, PartSize: cmp.Or(mp.psize, s.cfg.PartSize),
		CRC32: mp.sums != nil && mp.sums.on, Meta: mp.meta, Created: time.Now().UTC()}
	if rec.Key != mp.key {
		rec.UploadKey = mp.key
	}
	if prior != nil {
		rec.Created, rec.Parts = prior.Created, slices.Clone(prior.Parts)
	}
	stored := map[int32]types.CompletedPart{}
	mp.mu.Lock()
	for _, p := range mp.parts {
		stored[aws.ToInt32(p.PartNumber)] = p
	}
	sizes := mp.sizes
	mp.mu.Unlock()
	for n := int32(len(rec.Parts) + 1); ; n++ {
		p, ok := stored[n]
		if !ok || sizes[n] != mp.partSize(int(n)) {
			break // a gap, or the short last part: not resumable from
		}
		pp := pendingPart{N: n, ETag: aws.ToString(p.ETag), Size: sizes[n]}
		if rec.CRC32 {
			pp.CRC = mp.sums.partCRC(n)
		}
		rec.Parts = append(rec.Parts, pp)
	}
	if len(rec.Parts) == 0 {
		return false
	}
	for _, p := range rec.Parts {
		rec.Size += p.Size
	}
	last := rec.Parts[len(rec.Parts)-1].N
	mp.mu.Lock()
	rec.Hashes = mp.states[last]
	mp.mu.Unlock()
	if rec.Hashes == nil && prior != nil && len(prior.Parts) > 0 && prior.Parts[len(prior.Parts)-1].N == last {
		rec.Hashes = prior.Hashes // no new whole part since
	}
	rec.Updated = time.Now().UTC()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	b, _ := json.Marshal(rec)
	doc := pendingDoc(user, rec.Key)
	var werr error
	if prior != nil && version != "" && !s.noCond.Load() {
		_, werr = s.SwapDoc(wctx, doc, b, version)
	} else {
		_, werr = s.PutDoc(wctx, doc, b)
	}
	if werr != nil {
		s.log.Warn("s3: recording an interrupted upload for resuming failed; aborting it", "path", mp.name, "err", werr)
		return false
	}
	s.pending.put(user, rec)
	storage.RecordKept(ctx, rec.Size)
	s.log.Info("s3: upload interrupted; kept for resuming", "path", mp.name, "user", user,
		"stored", rec.Size, "parts", len(rec.Parts), "window", s.cfg.ResumeWindow)
	return true
}

var _ storage.KeptCounter = (*Store)(nil)

// KeptBytes is the stored length of the user's interrupted uploads but
// the one of except: the records as the user's session last read them
// (pendingList, which an upload reads anyway).
func (s *Store) KeptBytes(ctx context.Context, except string) int64 {
	user, ok := s.owner(ctx)
	if !ok {
		return 0
	}
	skip := ""
	if except != "" {
		skip, _ = s.key("kept", except)
	}
	var n int64
	for key, rec := range s.pendingList(ctx, user).recs {
		if key != skip {
			n += rec.Size
		}
	}
	return n
}

// readPending reads user's record for key from the store; nil when none.
func (s *Store) readPending(ctx context.Context, user, key string) (*pendingUpload, string, error) {
	b, ver, err := s.ReadDoc(ctx, pendingDoc(user, key))
	if errors.Is(err, storage.ErrNotFound) {
		s.pending.drop(user, key)
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	var rec pendingUpload
	if err := json.Unmarshal(b, &rec); err != nil || rec.User != user || rec.Key != key {
		return nil, "", nil // not ours (a hash collision) or unreadable: as none
	}
	if s.expired(&rec, time.Now()) {
		return nil, "", nil // the cleanup aborts it
	}
	s.pending.put(user, &rec)
	return &rec, ver, nil
}

func (s *Store) expired(rec *pendingUpload, now time.Time) bool {
	return rec.Updated.Add(s.cfg.ResumeWindow).Before(now) && !rec.LeaseEnd.After(now)
}

// pendingEntry is Stat's answer for a file the user is uploading in
// pieces: the stored length, from the user's records as this session
// last read them (pendingList).
func (s *Store) pendingEntry(ctx context.Context, name, key string) (storage.Entry, bool) {
	user, ok := s.owner(ctx)
	if !ok {
		return storage.Entry{}, false
	}
	rec := s.pendingList(ctx, user).recs[key]
	if rec == nil {
		return storage.Entry{}, false
	}
	return storage.Entry{Name: pathBase(name), Size: rec.Size, ModTime: rec.Updated, Partial: true}, true
}

// owner is the user asking, when resuming is on: the one whose upload
// under ctx may be kept when its client goes away, and who sees and
// continues it.
func (s *Store) owner(ctx context.Context) (string, bool) {
	if s.cfg.ResumeWindow <= 0 {
		return "", false
	}
	u, ok := storage.UploaderFrom(ctx)
	return u.User, ok && u.User != ""
}

func pathBase(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// continuePending continues the user's pending upload of key at off with
// r: ok false when there is none (the caller goes on as without resuming).
func (s *Store) continuePending(ctx context.Context, name, key string, off int64, r io.Reader) (n int64, ok bool, err error) {
	user, ok := s.owner(ctx)
	if !ok {
		return 0, false, nil
	}
	rec, ver, err := s.readPending(ctx, user, key)
	if err != nil || rec == nil {
		return 0, false, err
	}
	// A held temp-name upload's record is continued held (AppendHeld),
	// towards the final name it was created under; another upload's as
	// any upload.
	hold := holdOf(ctx)
	switch {
	case hold != nil && rec.UploadKey == "":
		return 0, false, nil
	case rec.UploadKey != "" && (hold == nil || hold.finalKey != rec.UploadKey):
		return 0, true, storage.E("append", name, storage.ErrNotSupported,
			errors.New("the interrupted upload was held under a temporary name and continues only as one (temp-name patterns are off)"))
	}
	now := time.Now()
	session := ""
	if u, ok := storage.UploaderFrom(ctx); ok {
		session = u.Session
	}
	if rec.Lease != "" && rec.Lease != session && rec.LeaseEnd.After(now) {
		return 0, true, storage.E("append", name, storage.ErrTransient, errors.New("another session is resuming this upload"))
	}
	// Resume at the end of a whole part: the stored length, or less
	// (the later parts are then sent again).
	keep := 0
	var at int64
	for keep < len(rec.Parts) && at < off {
		at += rec.Parts[keep].Size
		keep++
	}
	if at != off {
		return 0, true, storage.E("append", name, storage.ErrBadOffset,
			fmt.Errorf("resume at %d: the upload can continue only at the end of a stored part (%d bytes are stored)", off, rec.Size))
	}
	if keep < len(rec.Parts) {
		rec.Hashes = nil // the state was of the later parts' end
	}
	rec.Parts = rec.Parts[:keep]
	rec.Size = at
	rec.Lease, rec.LeaseEnd = session, now.Add(leaseTTL).UTC()
	if ver, err = s.writePending(ctx, rec, ver); err != nil {
		return 0, true, err
	}

	mp := &multipart{s: s, name: name, key: rec.uploadKey(), shown: key, id: rec.UploadID, psize: rec.PartSize, next: int32(keep + 1), meta: rec.Meta,
		sizes: map[int32]int64{}}
	sums := &upSums{s: s, on: rec.CRC32, parts: map[int32]partCRC{}}
	for _, p := range rec.Parts {
		mp.parts = append(mp.parts, types.CompletedPart{PartNumber: aws.Int32(p.N), ETag: aws.String(p.ETag), ChecksumCRC32: crcIf(rec.CRC32, p.CRC)})
		mp.sizes[p.N] = p.Size
		if rec.CRC32 {
			sums.parts[p.N] = partCRC{crc: p.CRC, n: p.Size}
		}
	}
	mp.sums = sums
	if rec.Hashes != nil {
		// The checksums go on from where the stored parts end.
		if h, err := storage.RestoreHashing(rec.Hashes); err == nil {
			mp.h, sums.h = h, h
			// The CRC32 combined from the parts is the whole file's, to
			// be recorded with the others (the first session took it
			// over from the hashes, so they have none).
			sums.took = rec.CRC32 && !slices.Contains(h.Algos(), storage.CRC32)
			r = h.Reader(r)
		} else {
			s.log.Warn("s3: a resume record's checksum state", "path", name, "err", err)
		}
	}

	// The lease is renewed while the continuation runs; losing it (the
	// record changed: the cleanup, a DELE) stops the continuation.
	lease := &leaseKeeper{s: s, rec: rec, ver: ver}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := lease.keep(rctx, cancel)
	defer stop()

	buf, release, err := s.buffer(rctx, mp.partSize(int(mp.next)))
	if err != nil {
		stop()
		s.releaseLease(ctx, lease)
		return 0, true, err
	}
	got, rerr := io.ReadFull(r, buf)
	eof := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
	if rerr == nil {
		mp.snapshot(int(mp.next))
	}
	if rerr != nil && !eof {
		release()
		stop()
		if rec, ver := lease.current(); !s.keepPending(ctx, mp, rerr, rec, ver) {
			s.releaseLease(ctx, lease)
		}
		return 0, true, rerr
	}
	total, err := mp.run(rctx, r, nil, buf[:got], release, eof)
	stop()
	if err == nil {
		err = context.Cause(rctx)
	}
	if err != nil {
		rec, ver := lease.current()
		switch {
		case lease.lost():
			// Someone else owns the record now: leave the upload alone.
		case s.keepPending(ctx, mp, err, rec, ver):
		default:
			mp.abort(ctx)
			s.dropPending(ctx, user, key)
		}
		return total, true, err
	}
	s.dropPending(ctx, user, key)
	if mp.h != nil {
		// The whole file's checksums: tagged as any multipart upload's
		// (a held one's at its publication), and reported for its event.
		if hold == nil {
			sums.tag(ctx, name, key, mp.etag)
		}
		storage.AddUploadSums(ctx, mp.h.Sums().ByEventName())
	}
	if hold != nil {
		hold.mp = mp // completed at Publish (held.go)
		s.log.Info("s3: resumed upload held for its rename", "path", name, "user", user, "size", rec.Size+total, "parts", len(mp.parts))
		return total, true, nil
	}
	s.uploaded(key, rec.Size+total, mp.etag, rec.Meta)
	s.log.Info("s3: resumed upload completed", "path", name, "user", user, "size", rec.Size+total, "parts", len(mp.parts))
	return total, true, nil
}

func crcIf(on bool, c uint32) *string {
	if !on {
		return nil
	}
	return b64crc(c)
}

// writePending stores rec if its document is still at version.
func (s *Store) writePending(ctx context.Context, rec *pendingUpload, version string) (string, error) {
	b, _ := json.Marshal(rec)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	if s.noCond.Load() {
		return s.PutDoc(wctx, pendingDoc(rec.User, rec.Key), b)
	}
	v, err := s.SwapDoc(wctx, pendingDoc(rec.User, rec.Key), b, version)
	if errors.Is(err, storage.ErrConflict) {
		return "", storage.E("append", rec.Name, storage.ErrTransient, errors.New("the interrupted upload changed meanwhile; try again"))
	}
	return v, err
}

// releaseLease gives the record back, unchanged but for the lease.
func (s *Store) releaseLease(ctx context.Context, l *leaseKeeper) {
	rec, ver := l.current()
	if rec == nil || l.lost() {
		return
	}
	rec.Lease, rec.LeaseEnd = "", time.Time{}
	if _, err := s.writePending(ctx, rec, ver); err != nil {
		s.log.Debug("s3: releasing a resume lease", "path", rec.Name, "err", err)
	}
}

// dropPending deletes user's record for key (the upload itself is
// completed or aborted by the caller).
func (s *Store) dropPending(ctx context.Context, user, key string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	if err := s.DeleteDoc(dctx, pendingDoc(user, key)); err != nil {
		s.log.Warn("s3: deleting a resume record", "key", key, "err", err)
	}
	s.pending.drop(user, key)
}

// discardPending aborts user's pending upload of key, if there is one; it
// reports whether there was. fresh reads the store; else the user's
// cached records decide whether to look.
func (s *Store) discardPending(ctx context.Context, key string, fresh bool) bool {
	user, ok := s.owner(ctx)
	if !ok {
		return false
	}
	if !fresh && !s.pendingList(ctx, user).has(key) {
		return false
	}
	rec, _, err := s.readPending(ctx, user, key)
	if err != nil || rec == nil {
		return false
	}
	mp := &multipart{s: s, name: rec.Name, key: rec.uploadKey(), id: rec.UploadID}
	mp.abort(ctx)
	s.dropPending(ctx, user, key)
	s.log.Info("s3: interrupted upload discarded", "path", rec.Name, "user", user, "stored", rec.Size)
	return true
}

// errLeaseLost ends a continuation whose record changed under it: its
// parts in flight stop at once (multipart.run).
var errLeaseLost = errors.New("the interrupted upload was taken over or discarded")

// leaseKeeper renews a continuation's lease in its record.
type leaseKeeper struct {
	s *Store

	mu     sync.Mutex
	rec    *pendingUpload
	ver    string
	isLost bool
}

// keep renews the lease every leaseTTL/3 until stop is called; when the
// record changed under it, it cancels the continuation.
func (l *leaseKeeper) keep(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(leaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			l.mu.Lock()
			rec := *l.rec
			rec.LeaseEnd = time.Now().Add(leaseTTL).UTC()
			ver, err := l.s.writePending(ctx, &rec, l.ver)
			if err == nil {
				*l.rec, l.ver = rec, ver
			} else if errors.Is(err, storage.ErrTransient) {
				l.isLost = true
			}
			l.mu.Unlock()
			if l.lost() {
				cancel(storage.E("append", rec.Name, storage.ErrTransient, errLeaseLost))
				return
			}
		}
	}()
	return func() {
		once.Do(func() { close(done) })
		<-finished
	}
}

func (l *leaseKeeper) current() (*pendingUpload, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := *l.rec
	rec.Parts = slices.Clone(rec.Parts)
	return &rec, l.ver
}

func (l *leaseKeeper) lost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isLost
}

// pendingCache holds each user's records for a short while (the store's
// directory cache time), so Stat misses, listings and plain STORs need
// not ask the store each time whether the user has interrupted uploads:
// one ListObjectsV2 of the user's records per session and per cache time.
// Each session reads the store the first time it asks, so a client that
// reconnects (to any replica) sees an upload interrupted a moment ago.
// Continuations and DELE read the record itself.
type pendingCache struct {
	mu sync.Mutex
	m  map[string]*pendingSet
}

type pendingSet struct {
	at       time.Time
	recs     map[string]*pendingUpload // by key
	sessions map[string]bool           // the sessions that have read the records
	err      error                     // the records could not be listed: none are known
}

// maxCachedSessions bounds a user's pendingSet.sessions.
const maxCachedSessions = 10000

func (p *pendingSet) has(key string) bool { return p != nil && p.recs[key] != nil }

func (c *pendingCache) put(user string, rec *pendingUpload) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if set := c.m[user]; set != nil {
		set.recs[rec.Key] = rec
	}
}

func (c *pendingCache) drop(user, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if set := c.m[user]; set != nil {
		delete(set.recs, key)
	}
}

// pendingList is user's records, from the cache while it is fresh.
func (s *Store) pendingList(ctx context.Context, user string) *pendingSet {
	ttl := max(s.cfg.DirCacheTTL, 0)
	session := ""
	if u, ok := storage.UploaderFrom(ctx); ok {
		session = u.Session
	}
	s.pending.mu.Lock()
	if s.pending.m == nil {
		s.pending.m = map[string]*pendingSet{}
	}
	old := s.pending.m[user]
	if old != nil && time.Since(old.at) < ttl && old.sessions[session] {
		out := &pendingSet{at: old.at, recs: maps.Clone(old.recs)}
		s.pending.mu.Unlock()
		return out
	}
	s.pending.mu.Unlock()

	set := &pendingSet{at: time.Now(), recs: map[string]*pendingUpload{}, sessions: map[string]bool{session: true}}
	if old != nil && len(old.sessions) < maxCachedSessions {
		for id := range old.sessions {
			set.sessions[id] = true
		}
	}
	docs, err := s.ListDocs(ctx, resumeArea+url.PathEscape(user)+"/")
	if err != nil {
		s.log.Debug("s3: listing interrupted uploads", "user", user, "err", err)
		set.err = err
		return set
	}
	now := time.Now()
	for _, d := range docs {
		b, _, err := s.ReadDoc(ctx, d.Name)
		if err != nil {
			continue
		}
		var rec pendingUpload
		if json.Unmarshal(b, &rec) != nil || rec.User != user || s.expired(&rec, now) {
			continue
		}
		if s.replaced(ctx, &rec) {
			continue
		}
		set.recs[rec.Key] = &rec
	}
	s.pending.mu.Lock()
	s.pending.m[user] = set
	s.pending.mu.Unlock()
	return &pendingSet{at: set.at, recs: maps.Clone(set.recs)}
}

// replaced discards rec when a file was stored at its key after it was
// recorded (a small STOR from a server whose cache did not know of it):
// the file replaced the interrupted upload.
func (s *Store) replaced(ctx context.Context, rec *pendingUpload) bool {
	head, err := s.head(ctx, "stat", rec.Name, rec.Key)
	if err != nil || !aws.ToTime(head.LastModified).After(rec.Updated.Add(-time.Second)) {
		return false
	}
	(&multipart{s: s, name: rec.Name, key: rec.uploadKey(), id: rec.UploadID}).abort(ctx)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	if err := s.DeleteDoc(dctx, pendingDoc(rec.User, rec.Key)); err != nil {
		s.log.Warn("s3: deleting a resume record", "key", rec.Key, "err", err)
	}
	s.log.Info("s3: interrupted upload discarded: a new file replaced it", "path", rec.Name, "user", rec.User)
	return true
}

// withPending merges the user's pending uploads in dir into a listing of
// it (sorted by name), each as a file of its stored length; a file that
// exists hides a pending upload of the same name.
func (s *Store) withPending(ctx context.Context, dir, prefix string, seq func(func(storage.Entry, error) bool)) func(func(storage.Entry, error) bool) {
	user, ok := s.owner(ctx)
	if !ok {
		return seq
	}
	return func(yield func(storage.Entry, error) bool) {
		pfx, err := s.dirPrefix("list", dir)
		if err != nil {
			seq(yield)
			return
		}
		var extra []storage.Entry
		set := s.pendingList(ctx, user)
		if errors.Is(set.err, storage.ErrTransient) {
			// The store did not answer: the listing would wait for it
			// as long again before failing.
			yield(storage.Entry{}, set.err)
			return
		}
		for key, rec := range set.recs {
			base, ok := strings.CutPrefix(key, pfx)
			if !ok || strings.Contains(base, "/") || !strings.HasPrefix(base, prefix) || !usable(base) {
				continue
			}
			extra = append(extra, storage.Entry{Name: base, Size: rec.Size, ModTime: rec.Updated, Partial: true})
		}
		if len(extra) == 0 {
			seq(yield)
			return
		}
		slices.SortFunc(extra, func(a, b storage.Entry) int { return strings.Compare(a.Name, b.Name) })
		i := 0
		stopped := false
		seq(func(e storage.Entry, err error) bool {
			if err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return true // the directory shows only pending uploads
				}
				stopped = !yield(e, err)
				return !stopped
			}
			for ; i < len(extra) && extra[i].Name < e.Name; i++ {
				if !yield(extra[i], nil) {
					stopped = true
					return false
				}
			}
			if i < len(extra) && extra[i].Name == e.Name {
				i++
			}
			stopped = !yield(e, nil)
			return !stopped
		})
		for ; !stopped && i < len(extra); i++ {
			if !yield(extra[i], nil) {
				return
			}
		}
	}
}

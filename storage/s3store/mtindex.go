package s3store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bucketftp/bucketftp/storage"
)

// The modification-time index: one zero-byte object per time MFMT set,
// under the directory's reserved sub-prefix, its key holding all it says:
//
//	PREFIX/dir/.bucketftp-mtimes/NAME<TAB>SEQ<TAB>UNIX<TAB>ETAG
//
// NAME is the file's name, SEQ the writer's clock in nanoseconds (19
// digits, so later entries sort after earlier ones of the same name), UNIX
// the time set, ETAG the object's ETag (without quotes) when the time was
// set. The entry is the only place the time is kept: the object is not
// rewritten. Writing one is a PUT of a key nobody else writes: no
// read-modify-write, no conflict between sessions, and a cost that does
// not grow with the directory. A listing reads the entries with
// ListObjectsV2 of that sub-prefix, alongside the directory's own pages
// (FTP names have no control characters, so NAME<TAB> sorts in the same
// order as NAME), and Stat those of its one name (NAME<TAB>) alongside its
// HEAD, where the directory may have an index; both show an entry's time
// while the file still has its ETag, the newest such entry winning.
// Entries that no longer apply (the file replaced, renamed, removed, or
// timed again) are deleted by the listings that meet them, once a minute
// old, and by RMD.
//
// Objects timed by older versions also carry the time in their metadata
// (mtimeKey, set by a copy onto itself); Stat still reads it there when the
// index has no entry for the file's ETag.

// mtimesSep separates the fields of an index entry's key: below every
// character an FTP name may hold.
const mtimesSep = "\t"

// staleAfter is how old an entry that no longer applies must be before a
// listing deletes it: younger ones may belong to an MFMT still under way.
const staleAfter = time.Minute

// maxStaleDeletes bounds the stale entries one listing deletes.
const maxStaleDeletes = 1000

// indexPrefix is the sub-prefix holding the entries of the directory
// whose children live under pfx.
func indexPrefix(pfx string) string { return pfx + mtimesName + "/" }

func indexKey(pfx, base string, seq, t int64, etag string) string {
	return fmt.Sprintf("%s%s%s%019d%s%d%s%s", indexPrefix(pfx), base, mtimesSep, seq, mtimesSep, t, mtimesSep, strings.Trim(etag, `"`))
}

// indexEntry is a parsed entry key.
type indexEntry struct {
	key  string
	name string
	seq  int64
	unix int64
	etag string // without quotes
}

func parseIndexKey(ipfx, key string) (indexEntry, bool) {
	f := strings.Split(strings.TrimPrefix(key, ipfx), mtimesSep)
	if len(f) != 4 || f[0] == "" {
		return indexEntry{}, false
	}
	seq, err1 := strconv.ParseInt(f[1], 10, 64)
	t, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return indexEntry{}, false
	}
	return indexEntry{key: key, name: f[0], seq: seq, unix: t, etag: f[3]}, true
}

// putIndexEntry records time t of the file base in the directory at pfx,
// for the object's ETag etag: one PUT of a zero-byte object.
func (s *Store) putIndexEntry(ctx context.Context, name, pfx, base string, t int64, etag string) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.cfg.Bucket,
		Key:  aws.String(indexKey(pfx, base, time.Now().UnixNano(), t, etag)),
		Body: strings.NewReader(""), ContentLength: aws.Int64(0)})
	return classify("setmodtime", name, err)
}

// indexMtime records time t of the object at key in its directory's index,
// under the object's ETag etag (read with a HEAD when empty), and notes
// that the directory has an index.
func (s *Store) indexMtime(ctx context.Context, name, key string, t int64, etag string) error {
	if etag == "" {
		head, err := s.head(ctx, "setmodtime", name, key)
		if err != nil {
			return err
		}
		etag = aws.ToString(head.ETag)
	}
	pfx, base := splitKey(key)
	if err := s.putIndexEntry(ctx, name, pfx, base, t, etag); err != nil {
		return err
	}
	s.dirs.made(pfx, mtimesName)
	return nil
}

// SetModTime records t as an entry of the directory's time index, under
// the file's current ETag; Stat, MDTM, MLST and listings read it there. The
// object itself is not rewritten. Right after this store uploaded the file
// (what clients do), the ETag is the one that upload returned and the
// entry's PUT is the only request; else a HEAD reads the ETag first.
func (s *Store) SetModTime(ctx context.Context, name string, t time.Time) error {
	k, err := s.key("setmodtime", name)
	if err != nil {
		return err
	}
	if p, ok := s.recent.get(k); ok {
		if err := s.indexMtime(ctx, name, k, t.Unix(), p.etag); err != nil {
			return err
		}
		s.recent.timed(k, p.etag, t.Unix())
		return nil
	}
	head, err := s.head(ctx, "setmodtime", name, k)
	if errors.Is(err, storage.ErrNotFound) {
		if e, serr := s.Stat(ctx, name); serr == nil && e.IsDir {
			return storage.E("setmodtime", name, storage.ErrNotSupported, errors.New("directories have no stored time"))
		}
	}
	if err != nil {
		return err
	}
	return s.indexMtime(ctx, name, k, t.Unix(), aws.ToString(head.ETag))
}

// mayHaveIndex reports whether the directory at pfx may have a time index:
// not when the directory cache holds its complete set of subdirectories
// and the index's sub-prefix is not among them.
func (s *Store) mayHaveIndex(pfx string) bool {
	has, known, _ := s.dirs.subdir(pfx, mtimesName)
	return has || !known
}

// fileEntries reads the index entries of the file base in the directory
// at pfx (ListObjectsV2 of the prefix NAME<TAB>: one request, as a file
// rarely has more than one entry), for Stat.
func (s *Store) fileEntries(ctx context.Context, pfx, base string) ([]indexEntry, error) {
	ipfx := indexPrefix(pfx)
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: aws.String(ipfx + base + mtimesSep)})
	var out []indexEntry
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			if e, ok := parseIndexKey(ipfx, aws.ToString(o.Key)); ok && e.name == base {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// entryTime is the time of the newest of entries recorded for ETag etag.
func entryTime(entries []indexEntry, etag string) (int64, bool) {
	var seq, t int64
	found := false
	for _, e := range entries {
		if e.etag == strings.Trim(etag, `"`) && (!found || e.seq > seq) {
			seq, t, found = e.seq, e.unix, true
		}
	}
	return t, found
}

// withMtime is meta (not changed) with the time t under mtimeKey, so that
// what stat returns carries a time whether the index or the metadata holds
// it (a renamed file's time moves with it).
func withMtime(meta map[string]string, t int64) map[string]string {
	m := maps.Clone(meta)
	if m == nil {
		m = map[string]string{}
	}
	m[mtimeKey] = strconv.FormatInt(t, 10)
	return m
}

// recentEntry answers Stat of a file this store uploaded less than the
// directory cache's TTL ago (what the front end's look-up before an MFMT
// right after the upload asks): its size and metadata as uploaded, and the
// time MFMT set, else the time the upload completed by this server's
// clock. A change by another writer is seen when that has passed.
func (s *Store) recentEntry(name, key string) (storage.Entry, map[string]string, bool) {
	p, ok := s.recent.get(key)
	if !ok || time.Since(p.at) >= s.dirs.ttl {
		return storage.Entry{}, nil, false
	}
	e := storage.Entry{Name: path.Base(name), Size: p.size, ModTime: p.at.UTC()}
	meta := p.meta
	if p.timed {
		e.ModTime = time.Unix(p.mtime, 0).UTC()
		meta = withMtime(meta, p.mtime)
	}
	return e, meta, true
}

// indexReader reads a directory's index entries in name order, a page at
// a time, as far as a listing needs them.
type indexReader struct {
	s    *Store
	ipfx string
	p    *s3.ListObjectsV2Paginator
	buf  []indexEntry // read, not yet used
	done bool         // no more pages, or a failure (logged)
}

// newIndexReader reads the entries of the directory at pfx whose names
// start with from.
func (s *Store) newIndexReader(pfx, from string) *indexReader {
	ipfx := indexPrefix(pfx)
	return &indexReader{s: s, ipfx: ipfx, p: s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{
		Bucket: &s.cfg.Bucket, Prefix: aws.String(ipfx + from)})}
}

// upTo returns the entries of names up to last (inclusive, in key order),
// reading index pages as needed. A failure is logged and ends the index:
// the listing shows the store's times from then on.
func (r *indexReader) upTo(ctx context.Context, last string) []indexEntry {
	var out []indexEntry
	for {
		for len(r.buf) > 0 {
			if r.buf[0].name > last {
				return out
			}
			out = append(out, r.buf[0])
			r.buf = r.buf[1:]
		}
		if r.done || !r.p.HasMorePages() {
			r.done = true
			return out
		}
		pctx, cancel := r.s.opCtx(ctx)
		page, err := r.p.NextPage(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.s.log.Warn("s3: reading modification-time index", "prefix", r.ipfx, "err", err)
			}
			r.done = true
			return out
		}
		for _, o := range page.Contents {
			if e, ok := parseIndexKey(r.ipfx, aws.ToString(o.Key)); ok {
				r.buf = append(r.buf, e)
			}
		}
	}
}

// pageTimes resolves a listing page's times: for each file of the page
// (name -> ETag with quotes) the time of its newest entry with that ETag.
// Entries that no longer apply and are old enough are added to stale.
func pageTimes(entries []indexEntry, files map[string]string, now time.Time, stale *[]string) map[string]int64 {
	times := map[string]int64{}
	best := map[string]int64{} // name -> seq of the winning entry
	for _, e := range entries {
		if etag, ok := files[e.name]; ok && strings.Trim(etag, `"`) == e.etag {
			if seq, ok := best[e.name]; !ok || e.seq > seq {
				best[e.name] = e.seq
				times[e.name] = e.unix
			}
		}
	}
	for _, e := range entries {
		if seq, ok := best[e.name]; ok && seq == e.seq {
			continue
		}
		if now.Sub(time.Unix(0, e.seq)) > staleAfter && len(*stale) < maxStaleDeletes {
			*stale = append(*stale, e.key)
		}
	}
	return times
}

// deleteStale deletes index entries in the background (one DeleteObjects),
// at most one batch at a time per store; a failure is logged and the
// entries are met again by a later listing.
func (s *Store) deleteStale(keys []string) {
	if len(keys) == 0 || !s.cleaning.TryLock() {
		return
	}
	s.retries.Add(1)
	go func() {
		defer s.retries.Done()
		defer s.cleaning.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		if err := s.deleteKeys(ctx, keys); err != nil {
			s.log.Debug("s3: deleting stale modification-time entries", "err", err)
		}
	}()
}

// deleteKeys deletes keys, 1,000 a request.
func (s *Store) deleteKeys(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		objs := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			objs[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.cfg.Bucket,
			Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)}}, s.requiredSum()...)
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			return fmt.Errorf("%d keys not deleted: %s", len(out.Errors), aws.ToString(out.Errors[0].Code))
		}
		keys = keys[n:]
	}
	return nil
}

// dropIndex deletes every index entry of the directory at pfx whose name
// starts with from ("" for all; "NAME\t" for one file's).
func (s *Store) dropIndex(ctx context.Context, op, name, pfx, from string) error {
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: aws.String(indexPrefix(pfx) + from)})
	for p.HasMorePages() {
		lctx, cancel := s.opCtx(ctx)
		out, err := p.NextPage(lctx)
		cancel()
		if err != nil {
			return classify(op, name, err)
		}
		keys := make([]string, 0, len(out.Contents))
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		dctx, cancel := s.opCtx(ctx)
		err = s.deleteKeys(dctx, keys)
		cancel()
		if err != nil {
			return classify(op, name, err)
		}
	}
	return nil
}

// recentPuts remembers the files this store uploaded in the last minute
// (the last maxRecent of them), so that the MFMT clients send right after
// an upload, and the front end's look-up before it (recentEntry), need no
// HEAD. When full, the oldest upload is forgotten first: sessions
// uploading at once each find their latest file.
type recentPuts struct {
	mu    sync.Mutex
	m     map[string]recentPut
	order []recentSlot // the adds, up to maxRecent, then a ring with the oldest at next
	next  int
	seq   uint64
}

type recentPut struct {
	at    time.Time
	size  int64
	etag  string
	meta  map[string]string
	timed bool   // MFMT set mtime since
	mtime int64  // Unix seconds
	seq   uint64 // its add, to tell it from a later one of the key
}

// recentSlot is one add in the ring.
type recentSlot struct {
	key string
	seq uint64
}

const (
	maxRecent = 1024
	recentTTL = time.Minute
)

func newRecentPuts() *recentPuts { return &recentPuts{m: map[string]recentPut{}} }

func (r *recentPuts) add(key string, size int64, etag string, meta map[string]string) {
	if etag == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	slot := recentSlot{key: key, seq: r.seq}
	if len(r.order) < maxRecent {
		r.order = append(r.order, slot)
	} else {
		// The slot's add is the oldest: forget it unless the key was
		// added again since (or forgotten).
		if old := r.order[r.next]; r.m[old.key].seq == old.seq {
			delete(r.m, old.key)
		}
		r.order[r.next] = slot
		r.next = (r.next + 1) % maxRecent
	}
	r.m[key] = recentPut{at: time.Now(), size: size, etag: etag, meta: meta, seq: r.seq}
}

func (r *recentPuts) get(key string) (recentPut, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.m[key]
	if !ok || time.Since(p.at) >= recentTTL {
		return recentPut{}, false
	}
	return p, true
}

// timed notes that MFMT set the time t of the upload at key, if it is
// still the one with ETag etag.
func (r *recentPuts) timed(key, etag string, t int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.m[key]; ok && p.etag == etag {
		p.timed, p.mtime = true, t
		r.m[key] = p
	}
}

func (r *recentPuts) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, key)
}

package s3store

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
// the time set, ETAG the object's ETag (without quotes) after the copy
// that set the time in its metadata. Writing one is a PUT of a key nobody
// else writes: no read-modify-write, no conflict between sessions, and a
// cost that does not grow with the directory. A listing reads the entries
// with ListObjectsV2 of that sub-prefix, alongside the directory's own
// pages (FTP names have no control characters, so NAME<TAB> sorts in the
// same order as NAME), and shows an entry's time while the file still has
// its ETag; the newest such entry wins. Entries that no longer apply (the
// file replaced, renamed, removed, or timed again) are deleted by the
// listings that meet them, once a minute old, and by RMD.

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
// under the ETag the copy that set or carried the time returned (read back
// with a HEAD from a store that sent none).
func (s *Store) indexMtime(ctx context.Context, name, key string, t int64, etag string) error {
	if etag == "" {
		head, err := s.head(ctx, "setmodtime", name, key)
		if err != nil {
			return err
		}
		etag = aws.ToString(head.ETag)
	}
	pfx, base := splitKey(key)
	return s.putIndexEntry(ctx, name, pfx, base, t, etag)
}

// SetModTime records t in the object's metadata (a copy onto itself),
// which Stat and MDTM then report, and as an entry of the directory's
// index, which listings read (ListObjectsV2 returns no metadata). Right
// after this store uploaded the file, that is two requests: the copy (on
// condition the object is still the one uploaded) and the entry; else a
// HEAD comes first.
func (s *Store) SetModTime(ctx context.Context, name string, t time.Time) error {
	k, err := s.key("setmodtime", name)
	if err != nil {
		return err
	}
	sec := strconv.FormatInt(t.Unix(), 10)
	if p, ok := s.recent.get(k); ok && p.size <= s.cfg.CopyPartSize {
		meta := maps.Clone(p.meta)
		if meta == nil {
			meta = map[string]string{}
		}
		meta[mtimeKey] = sec
		etag, err := s.copyIfMatch(ctx, name, k, p.etag, meta)
		switch {
		case err == nil:
			s.recent.forget(k)
			return s.indexMtime(ctx, name, k, t.Unix(), etag)
		case !errors.Is(err, errChanged):
			return err
		}
		// Replaced since: set the time on what is there now.
		s.recent.forget(k)
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
	meta := maps.Clone(head.Metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[mtimeKey] = sec
	etag, err := s.copyObject(ctx, name, k, k, aws.ToInt64(head.ContentLength), meta)
	if err != nil {
		return err
	}
	return s.indexMtime(ctx, name, k, t.Unix(), etag)
}

// errChanged: the object is no longer the one a conditional copy named.
var errChanged = errors.New("object changed")

// copyIfMatch copies the object at key onto itself with metadata meta, if
// it still has ETag etag; it returns the new ETag.
func (s *Store) copyIfMatch(ctx context.Context, name, key, etag string, meta map[string]string) (string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.cfg.Bucket, Key: &key,
		CopySource: aws.String(copySourceHeader(s.cfg.Bucket, key)), CopySourceIfMatch: aws.String(etag),
		Metadata: meta, MetadataDirective: types.MetadataDirectiveReplace})
	if err != nil {
		if isPreconditionFailed(err) || errors.Is(classify("", "", err), storage.ErrNotFound) {
			return "", errChanged
		}
		return "", classify("setmodtime", name, err)
	}
	if out.CopyObjectResult == nil {
		return "", nil
	}
	return aws.ToString(out.CopyObjectResult.ETag), nil
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
			Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)}})
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
// (up to maxRecent), so that the MFMT clients send right after an upload
// needs no HEAD.
type recentPuts struct {
	mu sync.Mutex
	m  map[string]recentPut
}

type recentPut struct {
	at   time.Time
	size int64
	etag string
	meta map[string]string
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
	if len(r.m) >= maxRecent {
		now := time.Now()
		for k, p := range r.m {
			if now.Sub(p.at) >= recentTTL {
				delete(r.m, k)
			}
		}
		if len(r.m) >= maxRecent {
			clear(r.m)
		}
	}
	r.m[key] = recentPut{at: time.Now(), size: size, etag: etag, meta: meta}
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

func (r *recentPuts) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, key)
}

package s3store

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketftp/bucketftp/storage"
)

// What the store learned about directories, kept for DirCacheTTL (default
// 5s) and shared by every session on this Store, so that a run of uploads
// into one directory does not ask S3 per file whether the directory exists
// and whether a directory is in the way of the new file:
//
//   - that a directory exists (a Stat that found it, a listing with
//     anything in it): Stat answers from it;
//   - the complete set of a directory's subdirectories, from one listing
//     of its first learnPages pages: Put trusts "not a subdirectory" and
//     skips its listing of name/, and Stat of a missing file skips its
//     listing. "Is a subdirectory" is always asked again.
//
// Changes made through this Store update or drop what they touch; changes
// by other writers are seen when the entry expires.

// defaultDirCacheTTL is how long a directory's entry is trusted.
const defaultDirCacheTTL = 5 * time.Second

// learnPages bounds the listing that learns a directory's subdirectories
// (1,000 entries a page); a larger directory is checked per upload.
const learnPages = 2

// maxDirEntries bounds the directories remembered.
const maxDirEntries = 4096

type dirCache struct {
	ttl time.Duration // <= 0: nothing is kept
	now func() time.Time

	mu sync.Mutex
	m  map[string]*dirInfo // by the directory's key prefix ("p/d/"; "" or "p/" for the root)
}

type dirInfo struct {
	at      time.Time
	exists  bool
	entry   storage.Entry
	learned bool            // subdirs was listed (complete or not)
	subdirs map[string]bool // nil when the listing was cut short
}

func newDirCache(ttl time.Duration) *dirCache {
	return &dirCache{ttl: ttl, now: time.Now, m: map[string]*dirInfo{}}
}

// get returns the fresh entry of pfx, or nil; with mu held.
func (c *dirCache) get(pfx string) *dirInfo {
	d := c.m[pfx]
	if d == nil || c.now().Sub(d.at) >= c.ttl {
		return nil
	}
	return d
}

// put stores d under pfx, making room when needed; with mu held.
func (c *dirCache) put(pfx string, d *dirInfo) {
	if c.ttl <= 0 {
		return
	}
	if _, ok := c.m[pfx]; !ok && len(c.m) >= maxDirEntries {
		now := c.now()
		for k, v := range c.m {
			if now.Sub(v.at) >= c.ttl {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxDirEntries {
			clear(c.m)
		}
	}
	c.m[pfx] = d
}

// dir returns the entry of the directory at pfx when it is known to exist.
func (c *dirCache) dir(pfx string) (storage.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.get(pfx); d != nil && d.exists {
		return d.entry, true
	}
	return storage.Entry{}, false
}

// found records that the directory at pfx exists, as e.
func (c *dirCache) found(pfx string, e storage.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.get(pfx); d != nil {
		d.exists, d.entry = true, e
		return
	}
	c.put(pfx, &dirInfo{at: c.now(), exists: true, entry: e})
}

// subdir reports whether base is a subdirectory of the directory at pfx:
// known says the answer is from a complete listing, learned that the
// directory was listed recently (complete or not).
func (c *dirCache) subdir(pfx, base string) (isDir, known, learned bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.get(pfx)
	if d == nil || !d.learned {
		return false, false, false
	}
	if d.subdirs == nil {
		return false, false, true
	}
	return d.subdirs[base], true, true
}

// learned records a listing of the directory at pfx: its subdirectories
// (nil when the listing was cut short), and whether anything is in it.
func (c *dirCache) learned(pfx string, subdirs map[string]bool, exists bool, e storage.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &dirInfo{at: c.now(), learned: true, subdirs: subdirs, exists: exists, entry: e}
	if old := c.get(pfx); old != nil && old.exists && !exists {
		d.exists, d.entry = true, old.entry
	}
	c.put(pfx, d)
}

// made records that a directory base now exists in the directory at pfx
// (MKD, or an upload below it).
func (c *dirCache) made(pfx, base string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.get(pfx); d != nil && d.subdirs != nil {
		d.subdirs[base] = true
	}
}

// drop forgets the directory at pfx (a file in it was removed: it may be
// gone, if nothing else kept it).
func (c *dirCache) drop(pfx string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, pfx)
}

// dropTree forgets the directory at pfx, everything below it, and its
// place in its parent (RMD, a directory renamed).
func (c *dirCache) dropTree(pfx string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if strings.HasPrefix(k, pfx) {
			delete(c.m, k)
		}
	}
	parent, base := splitDirPrefix(pfx)
	if d := c.m[parent]; d != nil && d.subdirs != nil {
		delete(d.subdirs, base)
	}
}

// splitKey splits an object key into its directory's prefix and its base.
func splitKey(key string) (pfx, base string) {
	i := strings.LastIndexByte(key, '/')
	return key[:i+1], key[i+1:]
}

// splitDirPrefix splits a directory prefix ("p/d/e/") into its parent's
// prefix ("p/d/") and its name ("e").
func splitDirPrefix(pfx string) (parent, base string) {
	return splitKey(strings.TrimSuffix(pfx, "/"))
}

// learnDir lists the directory at pfx (delimiter "/", up to learnPages
// pages) and records its subdirectories. Failures are logged and leave
// nothing learned: the caller then asks as it would without the cache.
func (s *Store) learnDir(ctx context.Context, pfx string) {
	if s.dirs.ttl <= 0 {
		return
	}
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: aws.String(pfx), Delimiter: aws.String("/")})
	subdirs := map[string]bool{}
	exists := false
	var e storage.Entry
	for page := 0; p.HasMorePages(); page++ {
		if page == learnPages {
			subdirs = nil
			break
		}
		lctx, cancel := s.opCtx(ctx)
		out, err := p.NextPage(lctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("s3: listing a directory's subdirectories", "prefix", pfx, "err", err)
			}
			return
		}
		for _, cp := range out.CommonPrefixes {
			subdirs[strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), pfx), "/")] = true
			exists = true
		}
		for _, o := range out.Contents {
			exists = true
			if aws.ToString(o.Key) == pfx {
				e.ModTime = aws.ToTime(o.LastModified)
			}
		}
	}
	_, base := splitDirPrefix(pfx)
	e.Name, e.IsDir = base, true
	s.dirs.learned(pfx, subdirs, exists, e)
}

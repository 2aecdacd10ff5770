// Package s3store keeps files in an S3-compatible bucket (AWS S3, MinIO,
// Ceph RGW, Cloudflare R2, GCS interoperability).
//
// A file /a/b.txt is the object PREFIX/a/b.txt. A directory exists when a
// marker object "PREFIX/a/" exists (MKD writes one) or when any object has
// it as a prefix (written by other S3 clients). Uploads stream: one PUT for
// a file smaller than a part, a multipart upload otherwise, made visible only
// by CompleteMultipartUpload and aborted on any failure.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/semaphore"

	"github.com/bucketftp/bucketftp/storage"
)

// Store is a storage.Backend on an S3 bucket.
type Store struct {
	cfg    Config
	c      *s3.Client
	log    *slog.Logger
	budget *semaphore.Weighted
	// heldBytes are the small held temp-name uploads' bytes (held.go), a
	// part of the budget.
	heldBytes atomic.Int64
	bufs      *bufferPool

	aborted atomic.Int64 // multipart uploads aborted

	noSums atomic.Bool // the store refused additional checksums (checksums.go)
	sumsOK atomic.Bool // the store took an upload with them

	dirs     *dirCache    // directories learned, for a few seconds
	recent   *recentPuts  // files just uploaded, for the MFMT after them
	pending  pendingCache // users' interrupted uploads, for a few seconds (resume.go)
	noCond   atomic.Bool  // the store answered NotImplemented to a conditional write
	cleaning sync.Mutex   // held while stale index entries are deleted

	stopCleanup context.CancelFunc
	cleanupDone chan struct{}
	stopped     chan struct{}   // closed by Close: background retries stop
	closing     context.Context // done at Close: a retry's request in flight ends
	closeNow    context.CancelFunc
	retries     sync.WaitGroup // background abort retries
}

var (
	_ storage.Backend       = (*Store)(nil)
	_ storage.Appender      = (*Store)(nil)
	_ storage.ModTimeSetter = (*Store)(nil)
	_ storage.PrefixLister  = (*Store)(nil)
)

// New connects to the bucket described by cfg. It does not fail when the
// store is unreachable: requests then fail as transient until it is back.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The SDK's own buildable client: with AWS_CA_BUNDLE set, the SDK adds
	// the bundle to it, where it would refuse any other transport.
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = min(cfg.Timeout, 10*time.Second) }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = 512
			tr.MaxIdleConnsPerHost = 256
			tr.ResponseHeaderTimeout = cfg.Timeout
			tr.IdleConnTimeout = 90 * time.Second
		})
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(httpClient)}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Uploads send the checksums checksums.go computes; the SDK adds
		// its own only where an operation requires one.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		// A HEAD asking for the object's checksums (HASH) has no body
		// to validate; the SDK would log that at every one.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	s := &Store{
		cfg:         cfg,
		c:           client,
		log:         log,
		budget:      semaphore.NewWeighted(cfg.MemoryBudget),
		bufs:        newBufferPool(cfg.Concurrency + 1),
		cleanupDone: make(chan struct{}),
		stopped:     make(chan struct{}),
		dirs:        newDirCache(cfg.DirCacheTTL),
		recent:      newRecentPuts(),
	}
	s.closing, s.closeNow = context.WithCancel(context.Background())
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopCleanup = cancel
	go s.cleanupLoop(cctx)
	return s, nil
}

// Close stops background work.
func (s *Store) Close() error {
	s.stopCleanup()
	<-s.cleanupDone
	close(s.stopped)
	s.closeNow()
	s.retries.Wait()
	return nil
}

// AbortedUploads counts multipart uploads this store aborted.
func (s *Store) AbortedUploads() int64 { return s.aborted.Load() }

// Ping checks that the bucket is reachable (for readiness probes).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err := s.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.cfg.Bucket})
	return classify("ping", "/", err)
}

func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// head is HeadObject of key within the request timeout; a failure is
// classified as op on name.
func (s *Store) head(ctx context.Context, op, name, key string) (*s3.HeadObjectOutput, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return nil, classify(op, name, err)
	}
	return out, nil
}

// key maps a clean absolute name to its object key.
func (s *Store) key(op, name string) (string, error) {
	if reserved(name) {
		return "", storage.E(op, name, storage.ErrInvalidName, errors.New("reserved name"))
	}
	k := strings.TrimPrefix(name, "/")
	if s.cfg.Prefix != "" {
		k = s.cfg.Prefix + "/" + k
	}
	if len(k)+1 > maxKeyLen { // +1: a directory marker's slash
		return "", storage.E(op, name, storage.ErrInvalidName, errors.New("object key longer than 1024 bytes"))
	}
	return k, nil
}

// dirPrefix is the prefix under which a directory's children live.
func (s *Store) dirPrefix(op, name string) (string, error) {
	if name == "/" {
		if s.cfg.Prefix == "" {
			return "", nil
		}
		return s.cfg.Prefix + "/", nil
	}
	k, err := s.key(op, name)
	return k + "/", err
}

func (s *Store) Stat(ctx context.Context, name string) (storage.Entry, error) {
	if q := storage.ChecksumQueryFrom(ctx); q != nil {
		return s.statSums(ctx, name, q)
	}
	e, _, err := s.stat(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		if k, kerr := s.key("stat", name); kerr == nil {
			if pe, ok := s.pendingEntry(ctx, name, k); ok { // resume.go
				return pe, nil
			}
		}
	}
	return e, err
}

// stat is Stat that also returns a file's user metadata (nil for a
// directory), for callers that need it without another HEAD; a time MFMT
// set is in it under mtimeKey, wherever it is recorded.
func (s *Store) stat(ctx context.Context, name string) (storage.Entry, map[string]string, error) {
	if name == "/" {
		return storage.Entry{Name: "/", IsDir: true}, nil, nil
	}
	k, err := s.key("stat", name)
	if err != nil {
		return storage.Entry{}, nil, err
	}
	if e, ok := s.dirs.dir(k + "/"); ok {
		e.Name = path.Base(name)
		return e, nil, nil
	}
	if e, meta, ok := s.recentEntry(name, k); ok { // just uploaded here (mtindex.go)
		return e, meta, nil
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	// Ask both questions at once: is it an object, is anything under it;
	// the second not at all when the parent's subdirectories are known
	// and name is not one of them.
	type listResult struct {
		out *s3.ListObjectsV2Output
		err error
	}
	listed := make(chan listResult, 1)
	pfx, base := splitKey(k)
	if isDir, known, _ := s.dirs.subdir(pfx, base); known && !isDir {
		listed <- listResult{out: &s3.ListObjectsV2Output{}}
	} else {
		go func() {
			out, err := s.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: aws.String(k + "/"), MaxKeys: aws.Int32(1)})
			listed <- listResult{out, err}
		}()
	}
	// A time MFMT set is in the directory's index: its entries for this
	// name are asked at once too, unless the directory is known to have
	// no index.
	type indexResult struct {
		entries []indexEntry
		err     error
	}
	var indexed chan indexResult
	if s.mayHaveIndex(pfx) {
		indexed = make(chan indexResult, 1)
		go func() {
			entries, err := s.fileEntries(ctx, pfx, base)
			indexed <- indexResult{entries, err}
		}()
	}
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &k})
	if err == nil {
		e := storage.Entry{Name: path.Base(name), Size: aws.ToInt64(out.ContentLength), ModTime: modTime(out.Metadata, out.LastModified)}
		meta := out.Metadata
		if indexed != nil {
			ir := <-indexed
			if ir.err != nil {
				return storage.Entry{}, nil, classify("stat", name, ir.err)
			}
			if t, ok := entryTime(ir.entries, aws.ToString(out.ETag)); ok {
				e.ModTime, meta = time.Unix(t, 0).UTC(), withMtime(meta, t)
			}
		}
		return e, meta, nil
	}
	if err = classify("stat", name, err); !errors.Is(err, storage.ErrNotFound) {
		return storage.Entry{}, nil, err
	}
	lr := <-listed
	if lr.err != nil {
		return storage.Entry{}, nil, classify("stat", name, lr.err)
	}
	if len(lr.out.Contents) == 0 {
		return storage.Entry{}, nil, storage.E("stat", name, storage.ErrNotFound, nil)
	}
	e := storage.Entry{Name: path.Base(name), IsDir: true}
	if c := lr.out.Contents[0]; aws.ToString(c.Key) == k+"/" {
		e.ModTime = aws.ToTime(c.LastModified)
	}
	s.dirs.found(k+"/", e)
	return e, nil, nil
}

// List streams ListObjectsV2 pages (delimiter "/"); each page's common
// prefixes and objects are merged in name order and yielded before the
// next page is fetched, so memory stays flat for any directory size.
// Times set by MFMT come from the directory's index (see mtimesName).
// Objects whose names FTP cannot address (control characters, invalid
// UTF-8) are left out.
func (s *Store) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	return s.withPending(ctx, dir, "", s.list(ctx, dir, "")) // resume.go: the user's interrupted uploads
}

// ListPrefix lists the entries of dir whose names start with name: one
// ListObjectsV2 from that prefix, however large the directory. A directory
// with no such entries, or none at all, lists nothing.
//
// MinIO refuses a prefix ending in the component "." or ".." (400
// XMinioInvalidResourceName), so those two (the literal prefix of ".*"
// and "..*") list the whole directory and keep the names that match. A
// name with a slash matches no entry and asks nothing.
func (s *Store) ListPrefix(ctx context.Context, dir, name string) iter.Seq2[storage.Entry, error] {
	if strings.Contains(name, "/") {
		return func(func(storage.Entry, error) bool) {}
	}
	return s.withPending(ctx, dir, name, s.list(ctx, dir, name))
}

func (s *Store) list(ctx context.Context, dir, name string) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		pfx, err := s.dirPrefix("list", dir)
		if err != nil {
			yield(storage.Entry{}, err)
			return
		}
		from := name // what S3 is asked for; the rest is filtered here
		if name == "." || name == ".." {
			from = ""
		}
		p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{
			Bucket: &s.cfg.Bucket, Prefix: aws.String(pfx + from), Delimiter: aws.String("/"),
		})
		idx := s.newIndexReader(pfx, from)
		// Whether the directory has an index: its sub-prefix shows in the
		// listing as a common prefix, so a page past its place without it
		// says there is none, and the index is not asked. A listing from
		// a prefix that excludes it cannot tell, and asks.
		ipfx := indexPrefix(pfx)
		canTell := strings.HasPrefix(ipfx, pfx+from)
		seenIndex, noIndex := false, false
		var legacy map[string]mtimeEntry
		var stale []string
		defer func() { s.deleteStale(stale) }()
		seen := dir == "/" || name != ""
		// A whole listing of up to learnPages pages tells the directory
		// cache what learnDir would (its subdirectories, the index among
		// them), so that a Stat after it asks less.
		var subdirs map[string]bool
		if from == "" {
			subdirs = map[string]bool{}
		}
		pages, found := 0, false
		self := storage.Entry{Name: path.Base(dir), IsDir: true}
		var page []storage.Entry
		for p.HasMorePages() {
			pctx, cancel := s.opCtx(ctx)
			out, err := p.NextPage(pctx)
			cancel()
			if err != nil {
				yield(storage.Entry{}, classify("list", dir, err))
				return
			}
			if pages++; pages > learnPages {
				subdirs = nil
			}
			found = found || len(out.CommonPrefixes) > 0 || len(out.Contents) > 0
			page = page[:0]
			lastKey := ""
			for _, cp := range out.CommonPrefixes {
				seen = true
				lastKey = max(lastKey, aws.ToString(cp.Prefix))
				if aws.ToString(cp.Prefix) == ipfx {
					seenIndex = true
				}
				name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), pfx), "/")
				if subdirs != nil {
					subdirs[name] = true
				}
				if usable(name) && !reserved(path.Join(dir, name)) {
					page = append(page, storage.Entry{Name: name, IsDir: true})
				}
			}
			files := map[string]string{} // name -> ETag
			last := ""
			for _, o := range out.Contents {
				seen = true
				lastKey = max(lastKey, aws.ToString(o.Key))
				name := strings.TrimPrefix(aws.ToString(o.Key), pfx)
				if name == mtimesName && legacy == nil {
					legacy = s.legacyMtimes(ctx, pfx)
				}
				if name == "" {
					self.ModTime = aws.ToTime(o.LastModified)
				}
				if name == "" || name == mtimesName || !usable(name) { // "" is the directory's own marker
					continue
				}
				files[name] = aws.ToString(o.ETag)
				last = name
				page = append(page, storage.Entry{Name: name, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
			}
			final := !p.HasMorePages()
			if canTell && !seenIndex && (final || lastKey >= ipfx) {
				noIndex = true
			}
			if final {
				last = "\U0010FFFF" // the last page: every entry left is of a file not there
			}
			var times map[string]int64
			if !noIndex && (len(files) > 0 || (final && seenIndex)) {
				times = pageTimes(idx.upTo(ctx, last), files, time.Now(), &stale)
			}
			for i, e := range page {
				if e.IsDir {
					continue
				}
				if t, ok := times[e.Name]; ok {
					page[i].ModTime = time.Unix(t, 0).UTC()
				} else if t, ok := legacy[e.Name]; ok && t.ETag == files[e.Name] {
					page[i].ModTime = time.Unix(t.Unix, 0).UTC()
				}
			}
			slices.SortFunc(page, func(a, b storage.Entry) int { return strings.Compare(a.Name, b.Name) })
			for _, e := range page {
				if from != name && !strings.HasPrefix(e.Name, name) {
					continue
				}
				if !yield(e, nil) {
					return
				}
			}
		}
		if subdirs != nil && found {
			s.dirs.learned(pfx, subdirs, true, self)
		}
		if !seen {
			yield(storage.Entry{}, storage.E("list", dir, storage.ErrNotFound, nil))
		}
	}
}

func usable(name string) bool {
	return name != "" && !strings.Contains(name, "/") && storage.Printable(name)
}

func (s *Store) Remove(ctx context.Context, name string) error {
	k, err := s.key("remove", name)
	if err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	head, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &k})
	if err != nil {
		err = classify("remove", name, err)
		if errors.Is(err, storage.ErrNotFound) && s.discardPending(ctx, k, true) { // resume.go
			return nil
		}
		return err
	}
	if _, err = s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &k}); err != nil {
		return classify("remove", name, err)
	}
	s.recent.forget(k)
	pfx, base := splitKey(k)
	indexed := s.mayHaveIndex(pfx)
	s.dirs.drop(pfx) // it may have gone with its last file
	if _, ok := metaMtime(head.Metadata); ok || indexed {
		// The file's time entries go with it (else a later listing
		// would, a minute later, and a file uploaded again with the same
		// bytes meanwhile would show the old time); the removal is done
		// either way. Not asked in a directory known to have no index.
		if err := s.dropIndex(ctx, "remove", name, pfx, base+mtimesSep); err != nil {
			s.log.Debug("s3: removing a file's modification-time entries", "path", name, "err", err)
		}
	}
	return nil
}

func (s *Store) Mkdir(ctx context.Context, name string) error {
	if name == "/" {
		return storage.E("mkdir", name, storage.ErrExist, nil)
	}
	k, err := s.key("mkdir", name)
	if err != nil {
		return err
	}
	if _, err := s.Stat(ctx, name); err == nil {
		return storage.E("mkdir", name, storage.ErrExist, nil)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err = s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(k + "/"), Body: strings.NewReader(""), ContentLength: aws.Int64(0)}); err != nil {
		return classify("mkdir", name, err)
	}
	pfx, base := splitKey(k)
	s.dirs.made(pfx, base)
	s.dirs.found(k+"/", storage.Entry{Name: base, IsDir: true, ModTime: time.Now().UTC()})
	return nil
}

func (s *Store) Rmdir(ctx context.Context, name string) error {
	if name == "/" {
		return storage.E("rmdir", name, storage.ErrPermission, errors.New("the root cannot be removed"))
	}
	pfx, err := s.dirPrefix("rmdir", name)
	if err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	// At most the marker, the legacy time index, the index's sub-prefix
	// and one child.
	out, err := s.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &pfx, Delimiter: aws.String("/"), MaxKeys: aws.Int32(4)})
	if err != nil {
		return classify("rmdir", name, err)
	}
	if len(out.Contents) == 0 && len(out.CommonPrefixes) == 0 {
		return storage.E("rmdir", name, storage.ErrNotFound, nil)
	}
	for _, cp := range out.CommonPrefixes {
		if aws.ToString(cp.Prefix) != indexPrefix(pfx) {
			return storage.E("rmdir", name, storage.ErrNotEmpty, nil)
		}
	}
	var keys []string
	for _, o := range out.Contents {
		switch k := aws.ToString(o.Key); k {
		case pfx + mtimesName:
			keys = append([]string{k}, keys...) // the index first, the marker last
		case pfx:
			keys = append(keys, k)
		default:
			return storage.E("rmdir", name, storage.ErrNotEmpty, nil)
		}
	}
	if len(out.CommonPrefixes) > 0 {
		if err := s.dropIndex(ctx, "rmdir", name, pfx, ""); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &k}); err != nil {
			return classify("rmdir", name, err)
		}
	}
	s.dirs.dropTree(pfx)
	return nil
}

// EnsureBucket creates the bucket when it does not exist, waiting up to
// wait for the store to come up (a one-shot setup step, e.g. in Compose).
func (s *Store) EnsureBucket(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := s.Ping(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, storage.ErrNotFound) {
			cctx, cancel := s.opCtx(ctx)
			_, cerr := s.c.CreateBucket(cctx, &s3.CreateBucketInput{Bucket: &s.cfg.Bucket})
			cancel()
			var owned *types.BucketAlreadyOwnedByYou
			if cerr == nil || errors.As(cerr, &owned) {
				return nil
			}
			err = classify("mkbucket", "/", cerr)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		s.log.Info("store not ready; retrying", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

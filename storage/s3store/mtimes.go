package s3store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/bucketftp/bucketftp/storage"
)

// mtimeKey is the user metadata that records a modification time set by
// MFMT (x-amz-meta-bucketftp-mtime, Unix seconds).
const mtimeKey = "bucketftp-mtime"

// SetModTime records t in the object's metadata (a copy onto itself), which
// Stat and MDTM then report, and in the directory's time index, which
// listings read (ListObjectsV2 returns no metadata).
func (s *Store) SetModTime(ctx context.Context, name string, t time.Time) error {
	e, err := s.Stat(ctx, name)
	if err != nil {
		return err
	}
	if e.IsDir {
		return storage.E("setmodtime", name, storage.ErrNotSupported, errors.New("directories have no stored time"))
	}
	k, err := s.key("setmodtime", name)
	if err != nil {
		return err
	}
	etag, err := s.copyObject(ctx, name, k, k, e.Size, map[string]string{mtimeKey: strconv.FormatInt(t.Unix(), 10)})
	if err != nil {
		return err
	}
	return s.indexMtime(ctx, name, k, t.Unix(), etag)
}

// metaMtime reads the time MFMT recorded in an object's metadata.
func metaMtime(meta map[string]string) (int64, bool) {
	v, ok := meta[mtimeKey]
	if !ok {
		return 0, false
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	return sec, err == nil
}

// modTime is an object's modification time: the one MFMT set, else the
// store's.
func modTime(meta map[string]string, lastModified *time.Time) time.Time {
	if sec, ok := metaMtime(meta); ok {
		return time.Unix(sec, 0).UTC()
	}
	return aws.ToTime(lastModified)
}

// mtimesName is a per-directory object that indexes the modification times
// MFMT set on the directory's files. The time itself lives in each object's
// metadata (what MDTM and MLST read), but ListObjectsV2 returns no metadata,
// so listings read this one object per directory instead of a HEAD per file.
// An entry holds the object's ETag when the time was set, and a listing uses
// it only while the object still has that ETag: a file replaced since shows
// the store's time again. The name is reserved: FTP clients cannot see,
// read, write or remove it.
const mtimesName = ".bucketftp-mtimes"

// maxMtimesSize bounds what a listing reads from the index (about 100,000
// entries); a larger one is ignored and the store's times are shown.
const maxMtimesSize = 8 << 20

type mtimeEntry struct {
	Unix int64  `json:"t"`
	ETag string `json:"etag"`
}

// hiddenDir is the top directory of the store (PREFIX/.bucketftp/) where
// the server keeps its own objects, such as the event outbox
// (docs/events.md). FTP clients cannot see, read, write or remove anything
// in it.
const hiddenDir = "/.bucketftp"

// reserved reports whether name is the index's own name, or the hidden
// directory or anything in it.
func reserved(name string) bool {
	return path.Base(name) == mtimesName || name == hiddenDir || strings.HasPrefix(name, hiddenDir+"/")
}

// loadMtimes reads the index of the directory whose children live under
// pfx. A missing index is an empty one. It returns the index's ETag for a
// conditional rewrite ("" when there is none).
func (s *Store) loadMtimes(ctx context.Context, pfx string) (map[string]mtimeEntry, string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(pfx + mtimesName)})
	if err != nil {
		if errors.Is(classify("mtimes", pfx, err), storage.ErrNotFound) {
			return map[string]mtimeEntry{}, "", nil
		}
		return nil, "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxMtimesSize+1))
	if err != nil {
		return nil, "", err
	}
	if len(b) > maxMtimesSize {
		return nil, "", errors.New("modification-time index larger than 8 MiB")
	}
	m := map[string]mtimeEntry{}
	if err := json.Unmarshal(b, &m); err != nil {
		// A damaged index is replaced on the next MFMT; until then the
		// store's own times are shown.
		s.log.Warn("s3: unreadable modification-time index", "key", pfx+mtimesName, "err", err)
		m = map[string]mtimeEntry{}
	}
	return m, aws.ToString(out.ETag), nil
}

// listMtimes is loadMtimes for a listing: any failure means "no recorded
// times", logged, since a listing is still right with the store's times.
func (s *Store) listMtimes(ctx context.Context, pfx string) map[string]mtimeEntry {
	m, _, err := s.loadMtimes(ctx, pfx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("s3: reading modification-time index", "key", pfx+mtimesName, "err", err)
		}
		return nil
	}
	return m
}

// recordMtime sets the index entry of dir's child base. The rewrite is
// conditional on the index not having changed since it was read (If-Match,
// or If-None-Match for a new one), so two sessions setting times in one
// directory at once do not lose either entry; on a conflict it waits a
// random, growing while (up to 640 ms) and reads again.
// A store that does not implement conditional writes gets a plain one.
func (s *Store) recordMtime(ctx context.Context, name, key string, t int64, etag string) error {
	pfx := key[:len(key)-len(path.Base(key))]
	base := path.Base(key)
	const attempts = 12
	conditional := true // stores without conditional writes get plain ones
	for try := range attempts {
		if try > 0 { // lost a race: wait a random while, longer each time
			wait := time.Duration(rand.Int64N(int64(10*time.Millisecond) << min(try, 6)))
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		m, cur, err := s.loadMtimes(ctx, pfx)
		if err != nil {
			return classify("setmodtime", name, err)
		}
		m[base] = mtimeEntry{Unix: t, ETag: etag}
		b, err := json.Marshal(m)
		if err != nil {
			return storage.E("setmodtime", name, errUnclassified, err)
		}
		in := &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(pfx + mtimesName),
			Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))), ContentType: aws.String("application/json")}
		switch {
		case !conditional:
		case cur == "":
			in.IfNoneMatch = aws.String("*")
		default:
			in.IfMatch = aws.String(cur)
		}
		pctx, cancel := s.opCtx(ctx)
		_, err = s.c.PutObject(pctx, in)
		cancel()
		if err == nil {
			return nil
		}
		var ae smithy.APIError
		switch {
		case !errors.As(err, &ae):
			return classify("setmodtime", name, err)
		case ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict":
			// Another session rewrote the index: read it again.
		case ae.ErrorCode() == "NotImplemented" && conditional:
			conditional = false
		default:
			return classify("setmodtime", name, err)
		}
	}
	return storage.E("setmodtime", name, storage.ErrTransient, errors.New("modification-time index kept changing"))
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
	return s.recordMtime(ctx, name, key, t, etag)
}

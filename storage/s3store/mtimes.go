package s3store

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/bucketftp/bucketftp/storage"
)

// mtimeKey is the user metadata in which older versions recorded a
// modification time set by MFMT (x-amz-meta-bucketftp-mtime, Unix seconds);
// Stat still reads it where the index has no entry for the file.
const mtimeKey = "bucketftp-mtime"

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

// mtimesName is the reserved name of each directory's modification-time
// index: the sub-prefix ".bucketftp-mtimes/" holding one small object per
// time MFMT set (mtindex.go), which listings and Stat read. It is the only
// place the time is kept: setting it in the object's metadata would mean
// copying the object onto itself, and ListObjectsV2 returns no metadata.
//
// Older versions kept the index as one JSON document of that name
// ({"NAME":{"t":UNIX,"etag":ETAG}}), rewritten whole by each MFMT. Listings
// still read such a document where the directory has one (legacyMtimes);
// new times go to the sub-prefix, and RMD removes both. The name is
// reserved: FTP clients cannot see, read, write or remove either.
const mtimesName = ".bucketftp-mtimes"

// maxMtimesSize bounds what a listing reads from a legacy index document
// (about 100,000 entries); a larger one is ignored.
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

// reserved reports whether name is the index's own name (the legacy
// document, the entries' sub-prefix or anything in it), or the hidden
// directory or anything in it.
func reserved(name string) bool {
	return strings.Contains(name+"/", "/"+mtimesName+"/") || name == hiddenDir || strings.HasPrefix(name, hiddenDir+"/")
}

// legacyMtimes reads the legacy index document of the directory whose
// children live under pfx. Any failure means "no recorded times", logged,
// since a listing is still right with the store's times.
func (s *Store) legacyMtimes(ctx context.Context, pfx string) map[string]mtimeEntry {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(pfx + mtimesName)})
	if err != nil {
		if !errors.Is(classify("mtimes", pfx, err), storage.ErrNotFound) && ctx.Err() == nil {
			s.log.Warn("s3: reading modification-time index", "key", pfx+mtimesName, "err", err)
		}
		return nil
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxMtimesSize+1))
	if err == nil && len(b) > maxMtimesSize {
		err = errors.New("larger than 8 MiB")
	}
	m := map[string]mtimeEntry{}
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		s.log.Warn("s3: unreadable modification-time index", "key", pfx+mtimesName, "err", err)
		return nil
	}
	return m
}

// isPreconditionFailed reports a conditional request whose condition did
// not hold (412).
func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed"
}

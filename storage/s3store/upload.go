package s3store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/bucketftp/bucketftp/storage"
)

// partSize is the size of part n (1-based): the configured size for the
// first 1,000 parts, doubling every 1,000 parts after, capped at 5 GiB.
// With 6 MiB parts, 10,000 parts hold about 5.9 TiB.
func (s *Store) partSize(n int) int64 {
	size := s.cfg.PartSize << ((n - 1) / 1000)
	return min(size, maxPartSize)
}

func (s *Store) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	k, err := s.key("put", name)
	if err != nil {
		return 0, err
	}
	noReplace := storage.TakeNoReplace(ctx)
	if err := s.notDir(ctx, "put", name, k); err != nil {
		return 0, err
	}
	n, err := s.upload(ctx, name, k, r, nil, noReplace)
	if err == nil {
		// A new upload replaces an interrupted one (resume.go): asked of
		// the store after a multipart upload, where a request more costs
		// nothing, and after a held one (whose file is not at k, so a
		// later listing would not see it replaced); after another small
		// one the user's cached records decide.
		s.discardPending(ctx, k, n >= s.cfg.PartSize || holdOf(ctx) != nil)
	}
	return n, err
}

// notDir fails with ErrExist when name is a directory. Where the parent's
// subdirectories are known (dircache.go) and name is not one of them, that
// costs nothing; else one listing request for anything under "name/".
func (s *Store) notDir(ctx context.Context, op, name, key string) error {
	pfx, base := splitKey(key)
	isDir, known, learned := s.dirs.subdir(pfx, base)
	if !learned {
		s.learnDir(ctx, pfx)
		isDir, known, _ = s.dirs.subdir(pfx, base)
	}
	// A name with a backslash is always asked about: MinIO refuses some
	// (XMinioInvalidResourceName), and the listing says so before any of
	// the upload is read, where the PUT would only say it after.
	if known && !isDir && !strings.Contains(base, `\`) {
		return nil
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: aws.String(key + "/"), MaxKeys: aws.Int32(1)})
	if err != nil {
		return classify(op, name, err)
	}
	if len(out.Contents) > 0 {
		return storage.E(op, name, storage.ErrExist, errors.New("is a directory"))
	}
	return nil
}

// Append keeps the first off bytes of name and adds r after them. Up to one
// part's worth of old bytes are read back and sent again; beyond that the
// old bytes are copied inside the store (UploadPartCopy), so resuming a
// large upload does not re-send it. The old object stays as it was until
// the new one is complete.
func (s *Store) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	k, err := s.key("append", name)
	if err != nil {
		return 0, err
	}
	if off == 0 {
		return s.Put(ctx, name, r, -1)
	}
	s.recent.forget(k)
	head, err := s.head(ctx, "append", name, k)
	if errors.Is(err, storage.ErrNotFound) {
		// The user's interrupted upload, continued (resume.go).
		if n, ok, err := s.continuePending(ctx, name, k, off, r); ok {
			return n, err
		}
	}
	if err != nil {
		return 0, err
	}
	if size := aws.ToInt64(head.ContentLength); off > size {
		return 0, storage.E("append", name, storage.ErrNotSupported, fmt.Errorf("offset %d beyond size %d", off, size))
	}
	if off < minPartSize {
		prefix, err := s.readRange(ctx, name, k, off, aws.ToString(head.ETag))
		if err != nil {
			return 0, err
		}
		body := io.MultiReader(bytes.NewReader(prefix), r)
		if h := storage.HashingFrom(ctx); h != nil {
			// The kept bytes are read back, so the new file's checksums
			// are computed whole, in the pass that stores it (the front
			// end hashes no upload that keeps bytes: auth/checksum.go).
			body = h.Reader(body)
		}
		n, err := s.upload(ctx, name, k, body, nil, false)
		return max(n-off, 0), err
	}
	src := &copySource{key: k, etag: aws.ToString(head.ETag), n: off}
	if off == aws.ToInt64(head.ContentLength) {
		// The whole file is kept: its checksums go on from its end state.
		if src.h = s.appendHashing(ctx, name, k, head); src.h != nil {
			r = src.h.Reader(r)
		}
	}
	return s.upload(ctx, name, k, r, src, false)
}

func (s *Store) readRange(ctx context.Context, name, k string, n int64, etag string) ([]byte, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &k,
		Range: aws.String(fmt.Sprintf("bytes=0-%d", n-1)), IfMatch: aws.String(etag)})
	if err != nil {
		return nil, classify("append", name, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, n))
	if err == nil && int64(len(b)) != n {
		err = io.ErrUnexpectedEOF
	}
	return b, classify("append", name, err)
}

// upload stores r under key: one PutObject when it fits in the first part
// (and nothing is copied), else a multipart upload that is completed only
// when every part is stored and aborted on any failure, so no partial object
// is ever visible. It returns the bytes read from r. With noReplace, a
// file already at key is not replaced (storage.ErrWouldReplace): the PUT
// carries If-None-Match: *, or, where the store has no conditional writes
// and for a multipart upload, a HEAD asks first.
func (s *Store) upload(ctx context.Context, name, key string, r io.Reader, src *copySource, noReplace bool) (int64, error) {
	// The checksums (checksums.go). An upload that copies the old bytes in
	// the store sends the store none (the copied bytes are never seen) and
	// records them only when they go on from the old file's (src.h).
	var sums *upSums
	switch {
	case src == nil:
		sums = s.newUpSums(ctx)
	case src.h != nil:
		sums = &upSums{s: s, h: src.h, parts: map[int32]partCRC{}}
	}
	buf, release, err := s.buffer(ctx, s.partSize(1))
	if err != nil {
		return 0, err
	}
	n, rerr := io.ReadFull(r, buf)
	short := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
	if rerr != nil && !short {
		release()
		return 0, rerr
	}
	if short && src == nil {
		if err := storage.CheckEnd(ctx); err != nil {
			release()
			return 0, err // the client went away: its data's end may not be the file's
		}
		if h := holdOf(ctx); h != nil && h.keep(buf[:n], release, uploaderMeta(ctx), sums) {
			return int64(n), nil // held.go: PUT at Publish
		}
		defer release()
		pctx, cancel := context.WithTimeout(ctx, s.partTimeout(int64(n)))
		defer cancel()
		in := &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: &key,
			Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n)), Metadata: uploaderMeta(ctx)}
		sums.put(in, buf[:n])
		out, err := s.putSummed(in, buf[:n], func(in *s3.PutObjectInput) (*s3.PutObjectOutput, error) {
			return s.putNew(pctx, name, in, buf[:n], noReplace)
		})
		if err != nil {
			return 0, err
		}
		recordPut(ctx, out)
		s.uploaded(key, int64(n), aws.ToString(out.ETag), in.Metadata)
		return int64(n), nil
	}
	if noReplace {
		if err := s.absent(ctx, name, key); err != nil {
			release()
			return 0, err
		}
	}

	mp := &multipart{s: s, name: name, key: s.holdKey(ctx, name, key), shown: key, meta: uploaderMeta(ctx)}
	if _, ok := s.owner(ctx); ok && src == nil {
		mp.h = storage.HashingFrom(ctx) // its state at each part's end is kept (resume.go)
	}
	if err := mp.createSummed(ctx, "put", mp.meta, sums); err != nil {
		release()
		return 0, err
	}
	if !short {
		mp.snapshot(1)
	}
	total, err := mp.run(ctx, r, src, buf[:n], release, short)
	if err != nil {
		if src != nil || !s.keepPending(ctx, mp, err, nil, "") { // resume.go
			mp.abort(ctx)
		}
		return total, err
	}
	if src != nil && src.h != nil {
		storage.AddUploadSums(ctx, src.h.Sums().ByEventName()) // for the upload's event
	}
	if h := holdOf(ctx); h != nil {
		h.mp = mp // completed at Publish (held.go)
		return total, nil
	}
	mp.sums.tag(ctx, name, key, mp.etag)
	size := total
	if src != nil {
		size += src.n // the bytes copied in the store before the new ones
	}
	s.uploaded(key, size, mp.etag, uploaderMeta(ctx))
	return total, nil
}

// putNew is PutObject of in with body; with noReplace, only where no
// object is at the key (If-None-Match: *, a 412 is ErrWouldReplace), or
// after a HEAD found none when the store has no conditional writes. Each
// request sends body afresh (in.Body is read by the one before).
//
// A NotImplemented to a conditional PUT that carries the CRC32 may refuse
// either header: the same PUT without the CRC32 tells which. Taken (or
// answered 412), the store refused the checksum (checksums.go); refused
// again, it has no conditional writes, and the PUT after the HEAD carries
// the CRC32 again, so each capability is given up only on evidence of
// its own.
func (s *Store) putNew(ctx context.Context, name string, in *s3.PutObjectInput, body []byte, noReplace bool) (*s3.PutObjectOutput, error) {
	send := func() (*s3.PutObjectOutput, error) {
		in.Body = bytes.NewReader(body)
		return s.c.PutObject(ctx, in, unsignedWith(in.ChecksumCRC32)...)
	}
	if noReplace && !s.noCond.Load() {
		in.IfNoneMatch = aws.String("*")
		out, err := send()
		if sum := in.ChecksumCRC32; sum != nil && notImplemented(err) && s.mayRefuseSums(err) {
			refusal := err
			in.ChecksumCRC32 = nil
			out, err = send()
			switch {
			case err == nil || isPreconditionFailed(err):
				s.sumsRefused(refusal) // If-None-Match works: the CRC32 was refused
			case notImplemented(err):
				in.ChecksumCRC32 = sum // If-None-Match was refused: the CRC32 may yet be taken
			}
		}
		switch {
		case err == nil:
			return out, nil
		case isPreconditionFailed(err):
			return nil, storage.E("put", name, storage.ErrExist, storage.ErrWouldReplace)
		case !notImplemented(err):
			return nil, classify("put", name, err)
		}
		s.noCond.Store(true)
		s.log.Info("s3: the store has no conditional writes; uploads by users without overwrite ask first")
		in.IfNoneMatch = nil
	}
	if noReplace {
		if err := s.absent(ctx, name, aws.ToString(in.Key)); err != nil {
			return nil, err
		}
	}
	out, err := send()
	if err != nil {
		return nil, classify("put", name, err)
	}
	return out, nil
}

// notImplemented reports a request the store answered NotImplemented: a
// header it does not support.
func notImplemented(err error) bool {
	return err != nil && errors.Is(classify("put", "", err), storage.ErrNotSupported)
}

// absent fails with ErrWouldReplace when an object is at key.
func (s *Store) absent(ctx context.Context, name, key string) error {
	_, err := s.head(ctx, "put", name, key)
	switch {
	case err == nil:
		return storage.E("put", name, storage.ErrExist, storage.ErrWouldReplace)
	case errors.Is(err, storage.ErrNotFound):
		return nil
	}
	return err
}

// uploaded notes a finished upload: the MFMT that clients send next needs
// no HEAD, and an upload below a directory makes it exist.
func (s *Store) uploaded(key string, size int64, etag string, meta map[string]string) {
	s.recent.add(key, size, etag, meta)
	if pfx, _ := splitKey(key); pfx != "" {
		parent, base := splitDirPrefix(pfx)
		s.dirs.made(parent, base)
	}
}

func (s *Store) partTimeout(size int64) time.Duration {
	// The request timeout, plus time to send the part at 1 MiB/s at worst.
	return s.cfg.Timeout + time.Duration(size>>20)*time.Second
}

type multipart struct {
	s         *Store
	name, key string
	shown     string // the key its owner sees it under, when not key (a held upload's temp name); "": key
	id        string
	etag      string            // once completed
	sums      *upSums           // checksums sent with the parts (checksums.go); nil: none
	meta      map[string]string // the object's metadata, given at create
	psize     int64             // the part size base; 0: the store's (a resumed upload keeps its own)
	next      int32             // the first part number run sends (a resumed upload's next part); 0: 1

	h *storage.Hashing // the upload's checksums, whose state snapshot saves; nil: none saved

	mu     sync.Mutex
	parts  []types.CompletedPart
	sizes  map[int32]int64             // bytes of each stored part
	states map[int32]map[string][]byte // h's state at the end of each whole part read
}

// snapshot saves h's state at the end of part num, for a record of the
// upload should it be interrupted (resume.go): one MarshalBinary of each
// hash per part.
func (m *multipart) snapshot(num int) {
	if m.h == nil {
		return
	}
	st := m.h.State()
	if st == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states == nil {
		m.states = map[int32]map[string][]byte{}
	}
	m.states[int32(num)] = st
}

func (m *multipart) shownKey() string { return cmp.Or(m.shown, m.key) }

// partSize is part n's size in this upload (Store.partSize, from psize).
func (m *multipart) partSize(n int) int64 {
	if m.psize == 0 {
		return m.s.partSize(n)
	}
	return min(m.psize<<((n-1)/1000), maxPartSize)
}

// create starts the upload, with meta as the object's metadata; a failure
// is classified as op.
func (m *multipart) create(ctx context.Context, op string, meta map[string]string) error {
	ctx, cancel := m.s.opCtx(ctx)
	defer cancel()
	out, err := m.s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &m.s.cfg.Bucket, Key: &m.key, Metadata: meta})
	if err != nil {
		return classify(op, m.name, err)
	}
	m.id = aws.ToString(out.UploadId)
	return nil
}

func (m *multipart) done(p types.CompletedPart, size int64) {
	m.mu.Lock()
	m.parts = append(m.parts, p)
	if m.sizes == nil {
		m.sizes = map[int32]int64{}
	}
	m.sizes[aws.ToInt32(p.PartNumber)] = size
	m.mu.Unlock()
}

// partGrace is how long the parts in flight when an upload's client goes
// away (its context is cancelled: the connection closed, ABOR, the
// shutdown) may take to be stored: their bytes are what an interrupted
// upload keeps for resuming (resume.go), so they are not thrown away for
// the client to send again. No part starts after the cancellation.
const partGrace = 10 * time.Second

// run sends the copied prefix (if any), then first and the rest of r, as
// parts, with at most Concurrency parts in flight, then completes.
func (m *multipart) run(ctx context.Context, r io.Reader, src *copySource, first []byte, release func(), eof bool) (int64, error) {
	s := m.s
	pctx, pcancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer pcancel(nil)
	stopGrace := context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), errLeaseLost) {
			pcancel(context.Cause(ctx)) // another session owns the upload now
			return
		}
		time.AfterFunc(partGrace, func() { pcancel(context.Cause(ctx)) })
	})
	defer stopGrace()
	g, gctx := errgroup.WithContext(pctx)
	g.SetLimit(s.cfg.Concurrency)
	num := max(int(m.next), 1)
	if src != nil {
		num = m.copyParts(gctx, g, num, src)
	}
	var total int64
	data, rel := first, release
	for {
		if len(data) > 0 || num == 1 {
			piece, pieceRelease, partNum := data, rel, int32(num)
			total += int64(len(piece))
			g.Go(func() error {
				defer pieceRelease()
				return m.uploadPart(gctx, partNum, piece)
			})
			num++
		} else {
			rel()
		}
		if eof {
			break
		}
		if num > maxParts {
			_ = g.Wait()
			return total, storage.E("put", m.name, storage.ErrQuota, errors.New("upload exceeds 10,000 parts"))
		}
		if ctx.Err() != nil {
			// The client went away: what was read is being stored; read
			// no more.
			_ = g.Wait()
			return total, context.Cause(ctx)
		}
		buf, release, err := s.buffer(gctx, m.partSize(num))
		if err != nil {
			// A failed part cancels gctx: report that failure, not the
			// cancellation it caused here.
			if werr := g.Wait(); werr != nil {
				return total, werr
			}
			return total, err
		}
		n, rerr := io.ReadFull(r, buf)
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			eof = true
		case rerr != nil:
			release()
			_ = g.Wait()
			return total, rerr
		default:
			m.snapshot(num)
		}
		data, rel = buf[:n], release
	}
	if err := g.Wait(); err != nil {
		return total, err
	}
	if err := storage.CheckEnd(ctx); err != nil {
		// The client went away while the last parts were stored: the
		// end of its data may not be the end of the file. Kept for
		// resuming (resume.go), not completed or held as complete.
		return total, err
	}
	if holdOf(ctx) != nil {
		return total, nil // held: completed at Publish (held.go)
	}
	etag, err := m.complete(ctx)
	m.etag = etag
	return total, err
}

func (m *multipart) uploadPart(ctx context.Context, num int32, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, m.s.partTimeout(int64(len(data))))
	defer cancel()
	sum := m.sums.part(num, data)
	out, err := m.s.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &m.s.cfg.Bucket, Key: &m.key, UploadId: &m.id,
		PartNumber: aws.Int32(num), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ChecksumCRC32: sum}, unsignedWith(sum)...)
	if err != nil {
		return classify("put", m.name, err)
	}
	if sum != nil {
		m.s.sumsTaken()
	}
	m.done(types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag,
		ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME,
		ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256}, int64(len(data)))
	return nil
}

// complete makes the upload's object; it returns the object's ETag.
func (m *multipart) complete(ctx context.Context) (string, error) {
	slices.SortFunc(m.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	ctx, cancel := context.WithTimeout(ctx, m.s.cfg.Timeout+time.Duration(len(m.parts)/100)*time.Second)
	defer cancel()
	crc, crcType := m.sums.full()
	out, err := m.s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &m.s.cfg.Bucket, Key: &m.key, UploadId: &m.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: m.parts}, ChecksumCRC32: crc, ChecksumType: crcType})
	if err != nil {
		return "", classify("put", m.name, err)
	}
	if crc != nil {
		m.s.sumsTaken()
	}
	recordComplete(ctx, out)
	return aws.ToString(out.ETag), nil
}

// abort discards the upload's parts, even when ctx is already cancelled.
// When the store cannot be reached, it keeps trying in the background
// (every few seconds, for up to an hour) so that no upload is left open
// once the store is back; the stale-upload cleanup is the last resort.
func (m *multipart) abort(ctx context.Context) {
	// The first try waits a little only: a store that does not answer
	// would otherwise hold the failed upload's reply for another timeout.
	if m.tryAbort(ctx, min(m.s.cfg.Timeout, firstAbortWait)) {
		return
	}
	m.s.log.Warn("aborting multipart upload failed; retrying in the background", "key", m.key)
	m.s.retries.Add(1)
	go func() {
		defer m.s.retries.Done()
		delay := time.Second
		deadline := time.Now().Add(time.Hour)
		for time.Now().Before(deadline) {
			select {
			case <-time.After(delay):
			case <-m.s.stopped:
				return
			}
			if m.tryAbort(context.Background(), m.s.cfg.Timeout) {
				m.s.log.Info("aborted multipart upload after retrying", "key", m.key)
				return
			}
			delay = min(2*delay, 15*time.Second)
		}
	}()
}

// firstAbortWait bounds abort's first try.
const firstAbortWait = 5 * time.Second

// tryAbort tries once to abort the upload, waiting at most wait (or until
// the store is closed), even when ctx is already cancelled.
func (m *multipart) tryAbort(ctx context.Context, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	stop := context.AfterFunc(m.s.closing, cancel)
	defer stop()
	_, err := m.s.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &m.s.cfg.Bucket, Key: &m.key, UploadId: &m.id})
	if err != nil && !errors.Is(classify("abort", m.name, err), storage.ErrNotFound) {
		return false
	}
	m.s.aborted.Add(1)
	return true
}

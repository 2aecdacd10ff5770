package s3store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bucketftp/bucketftp/storage"
)

// Checksums of uploads (docs/s3.md, "Checksums"):
//
//   - The store verifies every upload: a PutObject carries the body's CRC32
//     (x-amz-checksum-crc32); a multipart upload is created with
//     ChecksumAlgorithm CRC32 and ChecksumType FULL_OBJECT, each UploadPart
//     carries its part's CRC32 and CompleteMultipartUpload the whole
//     object's, combined from the parts' (crc32Combine), so each byte is
//     hashed by CRC32 once. The store refuses a body that does not match,
//     and the upload fails with nothing visible. The SDK's own checksums
//     are off (RequestChecksumCalculation WhenRequired, store.go): this
//     file decides what is sent.
//   - The other checksums the upload's storage.Hashing computed (SHA-256
//     always) are recorded as user metadata x-amz-meta-bucketftp-sha256
//     (-sha1, -sha512, -md5, -crc32) on a single PUT, and as object tags
//     of the same names (one PutObjectTagging right after
//     CompleteMultipartUpload) on a multipart upload, whose metadata is
//     fixed when it is created. Both travel with the object when it is
//     copied (rename, MFMT), and any S3 tool reads them.
//   - A store that refuses the checksum headers (NotImplemented,
//     InvalidArgument or InvalidRequest to a PutObject or
//     CreateMultipartUpload that carries them, when the same request
//     without them is taken) is not sent them again; this is logged once.
//     Only until the store has taken a request with them (sumsTaken: a
//     PutObject, UploadPart or CompleteMultipartUpload; not a create,
//     whose header a store may ignore): after that a refusal fails the
//     upload. The CRC32 taken over from the upload's Hashing is still
//     computed and reported (part, full), and the operations that require
//     a body checksum send Content-MD5 instead (requiredSum). Which of
//     checksum and If-None-Match a store refused is told in putNew.

// sumPrefix starts the metadata and tag names of recorded checksums.
const sumPrefix = "bucketftp-"

// sumName is algo's metadata and tag name: "bucketftp-sha256".
func sumName(algo string) string { return sumPrefix + storage.EventName(algo) }

// stateName is the metadata and tag name of an object's checksum end state
// (storage.Hashing.EndState), recorded with objects of at least
// minPartSize: an APPE onto one copies its bytes in the store without
// reading them, and goes on hashing from there (appendHashing).
const stateName = sumPrefix + "state"

// upSums is what one upload sends to the store for verification.
type upSums struct {
	s    *Store
	h    *storage.Hashing // nil: the upload is not hashed
	on   bool             // send CRC32s to the store
	took bool             // the CRC32 is ours to report to h: computed even when on turns off

	mu    sync.Mutex
	parts map[int32]partCRC
}

type partCRC struct {
	crc uint32
	n   int64
}

// newUpSums starts an upload's checksums; nil when the store takes none
// and the upload is not hashed.
func (s *Store) newUpSums(ctx context.Context) *upSums {
	u := &upSums{s: s, h: storage.HashingFrom(ctx), on: !s.noSums.Load(), parts: map[int32]partCRC{}}
	if u.on {
		u.took = u.h.Take(storage.CRC32)
	}
	return u
}

func b64crc(c uint32) *string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return aws.String(base64.StdEncoding.EncodeToString(b[:]))
}

func hexcrc(c uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return hex.EncodeToString(b[:])
}

// report hands the whole object's CRC32 to the upload's Hashing.
func (u *upSums) report(c uint32) {
	if u.took {
		u.h.Report(storage.CRC32, hexcrc(c))
	}
}

// put readies a single PutObject of body: its CRC32 for the store to
// verify, the upload's checksums as metadata.
func (u *upSums) put(in *s3.PutObjectInput, body []byte) {
	if u == nil {
		return
	}
	if u.on {
		c := crc32.ChecksumIEEE(body)
		in.ChecksumCRC32 = b64crc(c)
		u.report(c)
	}
	sums := u.h.Sums()
	if len(sums) == 0 {
		return
	}
	if in.Metadata == nil {
		in.Metadata = map[string]string{}
	}
	for algo, v := range sums {
		in.Metadata[sumName(algo)] = v
	}
	if len(body) >= minPartSize {
		if st := u.h.EndState(); st != "" {
			in.Metadata[stateName] = st
		}
	}
}

// putSummed is put (PutObject of in, its error classified), run again
// without the checksum when the store refuses the header.
func (s *Store) putSummed(in *s3.PutObjectInput, body []byte, put func(*s3.PutObjectInput) (*s3.PutObjectOutput, error)) (*s3.PutObjectOutput, error) {
	out, err := put(in)
	if err == nil || in.ChecksumCRC32 == nil || !s.mayRefuseSums(err) {
		if err == nil && in.ChecksumCRC32 != nil {
			s.sumsTaken()
		}
		return out, err
	}
	in.ChecksumCRC32 = nil
	in.Body = bytes.NewReader(body)
	out, rerr := put(in)
	switch {
	case rerr == nil:
		s.sumsRefused(err)
		return out, nil
	case errors.Is(rerr, storage.ErrWouldReplace):
		// The file exists (a 412, or a HEAD where the store has no
		// conditional writes): the user's answer, though it tells
		// nothing sure of the checksum.
		return nil, rerr
	}
	return nil, err
}

// mayRefuseSums reports whether err may be the store refusing checksum
// headers: only until one upload with them has succeeded.
func (s *Store) mayRefuseSums(err error) bool {
	if s.sumsOK.Load() {
		return false
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "NotImplemented", "InvalidArgument", "InvalidRequest":
		return true
	}
	return false
}

// sumsTaken notes a request with checksums the store took: from then on a
// refusal is not taken for a store without them (mayRefuseSums).
func (s *Store) sumsTaken() { s.sumsOK.Store(true) }

func (s *Store) sumsRefused(err error) {
	if !s.noSums.Swap(true) {
		s.log.Warn("s3: the store refuses additional checksums (x-amz-checksum-crc32); uploads are no longer verified by the store", "err", err)
	}
}

// requiredSum are the per-operation options of a request whose operation
// requires a checksum of its body (PutObjectTagging, DeleteObjects): none
// (the SDK adds x-amz-checksum-crc32) until the store refused additional
// checksums, then Content-MD5 in its place, which every S3 store takes.
func (s *Store) requiredSum() []func(*s3.Options) {
	if !s.noSums.Load() {
		return nil
	}
	return []func(*s3.Options){s3.WithAPIOptions(contentMD5Instead)}
}

// contentMD5Instead takes the SDK's checksum middleware (its IDs in
// service/internal/checksum, which cannot be imported) off a request's
// stack and has it send Content-MD5 of the body (the serialized XML, a
// seekable stream). A removal failing (an SDK that renamed them) fails
// the request rather than send the checksum the store refuses.
func contentMD5Instead(stack *middleware.Stack) error {
	if _, err := stack.Initialize.Remove("AWSChecksum:SetupInputContext"); err != nil {
		return err
	}
	if _, err := stack.Finalize.Remove("AWSChecksum:ComputeInputPayloadChecksum"); err != nil {
		return err
	}
	return smithyhttp.AddContentChecksumMiddleware(stack)
}

// createSummed is create for an upload the store verifies by CRC32 of the
// full object (a store without checksums gets a plain one); the upload's
// checksums are then tagged on the object (upSums.tag).
func (m *multipart) createSummed(ctx context.Context, op string, meta map[string]string, u *upSums) error {
	if u == nil || !u.on {
		err := m.create(ctx, op, meta)
		m.sums = u
		return err
	}
	cctx, cancel := m.s.opCtx(ctx)
	defer cancel()
	out, err := m.s.c.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{Bucket: &m.s.cfg.Bucket, Key: &m.key, Metadata: meta,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, ChecksumType: types.ChecksumTypeFullObject})
	if err != nil && m.s.mayRefuseSums(err) {
		if rerr := m.create(ctx, op, meta); rerr == nil {
			m.s.sumsRefused(err)
			u.on = false
			m.sums = u
			return nil
		}
	}
	if err != nil {
		return classify(op, m.name, err)
	}
	m.id = aws.ToString(out.UploadId)
	m.sums = u
	return nil
}

// part is the CRC32 to send with part num, nil when none is sent. It is
// computed also when none is sent but the upload's Hashing handed the
// CRC32 over (the store refused checksums after Take): full reports it.
func (u *upSums) part(num int32, data []byte) *string {
	if u == nil || !u.on && !u.took {
		return nil
	}
	c := crc32.ChecksumIEEE(data)
	u.mu.Lock()
	u.parts[num] = partCRC{crc: c, n: int64(len(data))}
	u.mu.Unlock()
	if !u.on {
		return nil
	}
	return b64crc(c)
}

// partCRC is the CRC32 sent with part num.
func (u *upSums) partCRC(num int32) uint32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.parts[num].crc
}

// full is the whole object's CRC32, combined from the parts', for
// CompleteMultipartUpload; nil when none is sent. It is reported to the
// upload's Hashing either way (report).
func (u *upSums) full() (*string, types.ChecksumType) {
	if u == nil || !u.on && !u.took {
		return nil, ""
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	nums := slices.Sorted(func(yield func(int32) bool) {
		for n := range u.parts {
			if !yield(n) {
				return
			}
		}
	})
	var c uint32
	for i, n := range nums {
		p := u.parts[n]
		if i == 0 {
			c = p.crc
			continue
		}
		c = crc32Combine(c, p.crc, p.n)
	}
	u.report(c)
	if !u.on {
		return nil, ""
	}
	return b64crc(c), types.ChecksumTypeFullObject
}

// tag records the upload's checksums as tags of the completed object,
// whose ETag is etag. The object is stored either way; without the tags
// HASH computes them by reading.
//
// PutObjectTagging takes no condition: an object another writer put at
// the key since the upload completed would get this upload's values. A
// HeadObject after the tagging tells: the key holds another ETag, and the
// tags are deleted again (that writer's own tagging may come after; its
// tags are then lost, which HASH makes good by reading, but no object
// keeps values that are not its own).
func (u *upSums) tag(ctx context.Context, name, key, etag string) {
	if u == nil {
		return
	}
	sums := u.h.Sums()
	if len(sums) == 0 {
		return
	}
	var tags []types.Tag
	for _, algo := range storage.Algorithms() {
		if v, ok := sums[algo]; ok {
			tags = append(tags, types.Tag{Key: aws.String(sumName(algo)), Value: aws.String(v)})
		}
	}
	if st := u.h.EndState(); st != "" {
		tags = append(tags, types.Tag{Key: aws.String(stateName), Value: aws.String(st)})
	}
	ctx, cancel := u.s.opCtx(ctx)
	defer cancel()
	_, err := u.s.c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &u.s.cfg.Bucket, Key: &key,
		Tagging: &types.Tagging{TagSet: tags}}, u.s.requiredSum()...)
	if err != nil {
		u.s.log.Warn("s3: recording an upload's checksums as tags", "path", name, "err", err)
		return
	}
	head, err := u.s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.s.cfg.Bucket, Key: &key})
	if err != nil || etag == "" || aws.ToString(head.ETag) == etag {
		return
	}
	u.s.log.Warn("s3: the object was replaced while its checksums were recorded; its tags are removed", "path", name)
	if _, err := u.s.c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: &u.s.cfg.Bucket, Key: &key}); err != nil {
		u.s.log.Warn("s3: removing checksum tags from a replaced object", "path", name, "err", err)
	}
}

// statSums is Stat answering a storage.ChecksumQuery: a file's recorded
// checksums come from a HEAD with ChecksumMode ENABLED (the store's CRC32,
// the metadata) and, for a multipart object without them in its metadata,
// its tags. Nothing reads the object.
func (s *Store) statSums(ctx context.Context, name string, q *storage.ChecksumQuery) (storage.Entry, error) {
	e, _, err := s.stat(ctx, name)
	if err != nil || e.IsDir {
		return e, err
	}
	k, err := s.key("stat", name)
	if err != nil {
		return e, err
	}
	hctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.c.HeadObject(hctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &k, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return e, classify("stat", name, err)
	}
	sums, _ := s.recorded(hctx, name, k, out)
	if c := checksums(map[string]*string{"crc32": out.ChecksumCRC32}); c["crc32"] != "" &&
		(out.ChecksumType == "" || out.ChecksumType == types.ChecksumTypeFullObject) {
		sums[storage.CRC32] = c["crc32"]
	}
	e.Size = aws.ToInt64(out.ContentLength)
	q.Answer(e.Size, sums)
	return e, nil
}

// recorded returns the checksums and the end state recorded with the
// object at key that head describes: in its metadata (a single PUT) or,
// when that has no SHA-256, in its tags (a multipart upload, also after a
// rename or copy has given the object a plain ETag), one GetObjectTagging.
func (s *Store) recorded(ctx context.Context, name, key string, head *s3.HeadObjectOutput) (storage.Checksums, string) {
	sums := storage.Checksums{}
	for _, algo := range storage.Algorithms() {
		if v, ok := head.Metadata[sumName(algo)]; ok && isHex(v) {
			sums[algo] = v
		}
	}
	state := head.Metadata[stateName]
	if _, ok := sums[storage.SHA256]; ok || aws.ToInt32(head.TagCount) == 0 {
		return sums, state
	}
	tout, err := s.c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		if !errors.Is(classify("stat", name, err), storage.ErrNotSupported) {
			s.log.Warn("s3: reading an object's tags", "path", name, "err", err)
		}
		return sums, state
	}
	for _, t := range tout.TagSet {
		k, v := aws.ToString(t.Key), aws.ToString(t.Value)
		if algo, ok := tagAlgo(k); ok && isHex(v) {
			sums[algo] = v
		}
		if k == stateName {
			state = v
		}
	}
	return sums, state
}

func tagAlgo(key string) (string, bool) {
	for _, a := range storage.Algorithms() {
		if sumName(a) == key {
			return a, true
		}
	}
	return "", false
}

func isHex(v string) bool {
	_, err := hex.DecodeString(v)
	return err == nil && v != "" && strings.ToLower(v) == v
}

// crc32Combine is the CRC32 (IEEE) of A followed by B, from crc1 of A,
// crc2 of B and B's length: zlib's crc32_combine, by squaring the
// operator that appends one zero bit (GF(2) matrices).
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	var even, odd [32]uint32
	odd[0] = 0xedb88320 // the reversed IEEE polynomial: one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four
	for {
		gf2Square(&even, &odd) // one zero byte, then 2, 4, ...
		if len2&1 != 0 {
			crc1 = gf2Times(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(&odd, &even)
		if len2&1 != 0 {
			crc1 = gf2Times(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}

// appendHashing returns the Hashing of an APPE that keeps the whole of the
// object head describes (off is its size) and copies it in the store: it
// goes on from the object's recorded end state, with the object's last
// bytes (one ranged GET of at most 127 bytes) and its recorded CRC32, so
// the new object's checksums are the whole file's with no byte of the old
// one read again. nil (no checksums recorded, as before end states were)
// when the upload is not hashed, or the object has no end state for every
// algorithm the upload computes.
func (s *Store) appendHashing(ctx context.Context, name, key string, head *s3.HeadObjectOutput) *storage.Hashing {
	h := storage.HashingFrom(ctx)
	if h == nil {
		return nil
	}
	tctx, cancel := s.opCtx(ctx)
	sums, state := s.recorded(tctx, name, key, head)
	cancel()
	if state == "" {
		return nil
	}
	size, n, err := storage.EndStateSize(state)
	if err != nil || size != aws.ToInt64(head.ContentLength) {
		return nil
	}
	var tail []byte
	if n > 0 {
		tctx, cancel := s.opCtx(ctx)
		defer cancel()
		out, err := s.c.GetObject(tctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key,
			Range: aws.String(fmt.Sprintf("bytes=%d-%d", size-n, size-1)), IfMatch: head.ETag})
		if err != nil {
			return nil
		}
		// A store that ignored the Range would send the file's first
		// bytes: only the asked range is taken.
		want := fmt.Sprintf("bytes %d-%d/%d", size-n, size-1, size)
		tail, err = io.ReadAll(io.LimitReader(out.Body, n))
		out.Body.Close()
		if err != nil || int64(len(tail)) != n || aws.ToString(out.ContentRange) != want {
			return nil
		}
	}
	hh, err := storage.ResumeHashing(state, tail, sums, h.Algos())
	if err != nil {
		s.log.Debug("s3: an appended object's checksums cannot go on", "path", name, "err", err)
		return nil
	}
	return hh
}

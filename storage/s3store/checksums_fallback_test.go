package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bucketftp/bucketftp/storage"
)

// sumlessS3 is an in-memory S3 that, like a store without additional
// checksums, refuses any request carrying an x-amz-checksum-* (or
// x-amz-sdk-checksum-*, or a trailer) header with status and code; with
// accept set it takes them, as a store that has them does. It keeps
// objects, their metadata and tags, multipart uploads, and honours
// If-None-Match: * (with noCond it answers NotImplemented to it, as a
// store without conditional writes). The operations S3 requires a body
// checksum of (PutObjectTagging, DeleteObjects) need a checksum header or
// a matching Content-MD5, as AWS and MinIO do. Every request is recorded.
type sumlessS3 struct {
	status int
	code   string
	noCond bool
	accept atomic.Bool

	mu      sync.Mutex
	reqs    []sumReq
	objects map[string]*fakeObject
	uploads map[string]*fakeObject // by upload id; parts in parts
	parts   map[string]map[int][]byte
	nextID  int
}

type fakeObject struct {
	key  string
	etag string // without quotes; "": the length of data
	data []byte
	meta map[string]string // x-amz-meta-* without the prefix
	tags map[string]string
}

// sumReq is one request as the fake saw it.
type sumReq struct {
	kind    string   // PUT, PUT-IF-NONE-MATCH, HEAD, GET, LIST, MPU-CREATE, MPU-PART, MPU-COMPLETE, MPU-ABORT, PUT-TAGGING, GET-TAGGING, DELETE, DELETE-OBJECTS
	key     string   // the object key
	sums    []string // checksum headers sent
	md5     bool     // Content-MD5 sent, and the body's
	signed  bool     // x-amz-content-sha256 is the body's SHA-256
	refused bool
}

func (r sumReq) String() string {
	s := r.kind + " " + r.key
	if len(r.sums) > 0 {
		s += " [" + strings.Join(r.sums, " ") + "]"
	}
	if r.md5 {
		s += " [content-md5]"
	}
	if r.refused {
		s += " refused"
	}
	return s
}

func newSumlessS3(status int, code string) *sumlessS3 {
	return &sumlessS3{status: status, code: code, objects: map[string]*fakeObject{},
		uploads: map[string]*fakeObject{}, parts: map[string]map[int][]byte{}}
}

func (f *sumlessS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	key := strings.TrimPrefix(r.URL.Path, "/b/")
	req := sumReq{key: key}
	switch {
	case r.Method == http.MethodGet && q.Has("list-type"):
		req.kind = "LIST"
	case r.Method == http.MethodHead:
		req.kind = "HEAD"
	case r.Method == http.MethodGet && q.Has("tagging"):
		req.kind = "GET-TAGGING"
	case r.Method == http.MethodGet:
		req.kind = "GET"
	case r.Method == http.MethodPut && q.Has("tagging"):
		req.kind = "PUT-TAGGING"
	case r.Method == http.MethodPut && q.Has("uploadId"):
		req.kind = "MPU-PART"
	case r.Method == http.MethodPut && r.Header.Get("If-None-Match") != "":
		req.kind = "PUT-IF-NONE-MATCH"
	case r.Method == http.MethodPut:
		req.kind = "PUT"
	case r.Method == http.MethodPost && q.Has("delete"):
		req.kind = "DELETE-OBJECTS"
	case r.Method == http.MethodPost && q.Has("uploads"):
		req.kind = "MPU-CREATE"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		req.kind = "MPU-COMPLETE"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		req.kind = "MPU-ABORT"
	case r.Method == http.MethodDelete && q.Has("tagging"):
		req.kind = "DELETE-TAGGING"
	case r.Method == http.MethodDelete:
		req.kind = "DELETE"
	default:
		req.kind = r.Method
	}
	for h := range r.Header {
		// x-amz-checksum-mode (HeadObject) asks for the checksums
		// without sending any: not refused.
		if l := strings.ToLower(h); l != "x-amz-checksum-mode" && (strings.HasPrefix(l, "x-amz-checksum-") ||
			strings.HasPrefix(l, "x-amz-sdk-checksum-") || l == "x-amz-trailer") {
			req.sums = append(req.sums, l)
		}
	}
	slices.Sort(req.sums)
	sum := sha256.Sum256(body)
	req.signed = r.Header.Get("X-Amz-Content-Sha256") == hex.EncodeToString(sum[:])
	md5sum := md5.Sum(body)
	req.md5 = r.Header.Get("Content-Md5") == base64.StdEncoding.EncodeToString(md5sum[:])
	sumsRefused := len(req.sums) > 0 && !f.accept.Load()
	condRefused := req.kind == "PUT-IF-NONE-MATCH" && f.noCond
	req.refused = sumsRefused || condRefused

	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>header %s is not supported</Message><RequestId>1</RequestId></Error>`, code, strings.Join(req.sums, ", "))
		}
	}
	switch {
	case sumsRefused:
		fail(f.status, f.code)
		return
	case condRefused:
		fail(501, "NotImplemented")
		return
	case (req.kind == "PUT-TAGGING" || req.kind == "DELETE-OBJECTS") && len(req.sums) == 0 && !req.md5:
		fail(400, "MissingContentMD5")
		return
	}
	xmlOK := func(format string, args ...any) {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+format, args...)
	}
	obj := f.objects[key]
	switch req.kind {
	case "LIST":
		xmlOK(`<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`)
	case "HEAD", "GET":
		if obj == nil {
			fail(404, "NoSuchKey")
			return
		}
		for k, v := range obj.meta {
			w.Header().Set("X-Amz-Meta-"+k, v)
		}
		if len(obj.tags) > 0 {
			w.Header().Set("X-Amz-Tagging-Count", strconv.Itoa(len(obj.tags)))
		}
		etag := obj.etag
		if etag == "" {
			etag = strconv.Itoa(len(obj.data))
		}
		w.Header().Set("ETag", `"`+etag+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(obj.data)))
		if req.kind == "GET" {
			w.Write(obj.data)
		}
	case "GET-TAGGING":
		if obj == nil {
			fail(404, "NoSuchKey")
			return
		}
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(obj.tags)) {
			fmt.Fprintf(&b, `<Tag><Key>%s</Key><Value>%s</Value></Tag>`, k, obj.tags[k])
		}
		xmlOK(`<Tagging><TagSet>%s</TagSet></Tagging>`, b.String())
	case "PUT-TAGGING":
		if obj == nil {
			fail(404, "NoSuchKey")
			return
		}
		var tg struct {
			Tags []struct{ Key, Value string } `xml:"TagSet>Tag"`
		}
		if err := xml.Unmarshal(body, &tg); err != nil {
			fail(400, "MalformedXML")
			return
		}
		obj.tags = map[string]string{}
		for _, t := range tg.Tags {
			obj.tags[t.Key] = t.Value
		}
	case "PUT-IF-NONE-MATCH", "PUT":
		if req.kind == "PUT-IF-NONE-MATCH" && obj != nil {
			fail(412, "PreconditionFailed")
			return
		}
		f.objects[key] = &fakeObject{key: key, data: body, meta: metaOf(r.Header)}
		w.Header().Set("ETag", `"`+strconv.Itoa(len(body))+`"`)
	case "MPU-CREATE":
		f.nextID++
		id := "u" + strconv.Itoa(f.nextID)
		f.uploads[id] = &fakeObject{key: key, meta: metaOf(r.Header)}
		f.parts[id] = map[int][]byte{}
		xmlOK(`<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, key, id)
	case "MPU-PART":
		parts, ok := f.parts[q.Get("uploadId")]
		if !ok {
			fail(404, "NoSuchUpload")
			return
		}
		n, _ := strconv.Atoi(q.Get("partNumber"))
		parts[n] = body
		w.Header().Set("ETag", fmt.Sprintf(`"p%d"`, n))
	case "MPU-COMPLETE":
		id := q.Get("uploadId")
		up, ok := f.uploads[id]
		if !ok {
			fail(404, "NoSuchUpload")
			return
		}
		for _, n := range slices.Sorted(maps.Keys(f.parts[id])) {
			up.data = append(up.data, f.parts[id][n]...)
		}
		up.etag = "mp"
		f.objects[up.key] = up
		delete(f.uploads, id)
		delete(f.parts, id)
		xmlOK(`<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>%s</Key><ETag>"mp"</ETag></CompleteMultipartUploadResult>`, up.key)
	case "MPU-ABORT":
		delete(f.uploads, q.Get("uploadId"))
		delete(f.parts, q.Get("uploadId"))
		w.WriteHeader(204)
	case "DELETE-TAGGING":
		if obj != nil {
			obj.tags = nil
		}
		w.WriteHeader(204)
	case "DELETE":
		delete(f.objects, key)
		w.WriteHeader(204)
	case "DELETE-OBJECTS":
		var del struct {
			Keys []string `xml:"Object>Key"`
		}
		if err := xml.Unmarshal(body, &del); err != nil {
			fail(400, "MalformedXML")
			return
		}
		for _, k := range del.Keys {
			delete(f.objects, k)
		}
		xmlOK(`<DeleteResult></DeleteResult>`)
	default:
		fail(501, "NotImplemented")
	}
}

func metaOf(h http.Header) map[string]string {
	m := map[string]string{}
	for k := range h {
		if l := strings.ToLower(k); strings.HasPrefix(l, "x-amz-meta-") {
			m[strings.TrimPrefix(l, "x-amz-meta-")] = h.Get(k)
		}
	}
	return m
}

// take returns the requests since the last take, without listings.
func (f *sumlessS3) take() []sumReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sumReq
	for _, r := range f.reqs {
		if r.kind != "LIST" {
			out = append(out, r)
		}
	}
	f.reqs = nil
	return out
}

func (f *sumlessS3) object(key string) *fakeObject {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.objects[key]; o != nil {
		c := *o
		return &c
	}
	return nil
}

// syncLog is a log destination tests read.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// newSumlessStore is a Store (5 MiB parts) on f, logging to the returned
// log.
func newSumlessStore(t *testing.T, f *sumlessS3) (*Store, *syncLog) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	lg := &syncLog{}
	s, err := New(t.Context(), Config{Bucket: "b", Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
		PartSize: 5 << 20, StaleUploadAge: -1, Timeout: 5 * time.Second,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")},
		slog.New(slog.NewTextHandler(lg, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, lg
}

// hashedPut is Put of data through a Hashing of every algorithm, as the
// FTP front end uploads; it returns the upload's checksums.
func hashedPut(ctx context.Context, s *Store, name string, data []byte) (storage.Checksums, error) {
	h := storage.NewHashing(storage.Algorithms(), nil)
	n, err := s.Put(storage.WithHashing(ctx, h), name, h.Reader(bytes.NewReader(data)), -1)
	if err == nil && n != int64(len(data)) {
		err = fmt.Errorf("Put took %d bytes of %d", n, len(data))
	}
	return h.Sums(), err
}

func randomBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func hexSHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func hexCRC32(b []byte) string { return fmt.Sprintf("%08x", crc32.ChecksumIEEE(b)) }

// refusals are the answers of stores without additional checksums to a
// request carrying them that the fallback recognises.
var refusals = []struct {
	status int
	code   string
}{
	{501, "NotImplemented"},  // AWS's answer to a header implying what a store lacks
	{400, "InvalidArgument"}, // "Unsupported header 'x-amz-checksum-crc32'"
	{400, "InvalidRequest"},
}

const logRefused = "the store refuses additional checksums"

// uploadKinds are the requests of an upload's data.
var uploadKinds = []string{"PUT", "PUT-IF-NONE-MATCH", "MPU-CREATE", "MPU-PART", "MPU-COMPLETE"}

// TestChecksumsFallbackSinglePutFirst: on a store that refuses the
// checksum headers, the first upload (a single PUT) is refused with them
// and sent again without; it is stored whole with its checksums in the
// metadata, and the server logs the fallback once. Later uploads, single
// and multipart, send no checksum header with their data, and their
// payload is signed (x-amz-content-sha256 is the body's SHA-256) since no
// CRC32 guards it.
func TestChecksumsFallbackSinglePutFirst(t *testing.T) {
	t.Parallel()
	for _, rf := range refusals {
		t.Run(rf.code, func(t *testing.T) {
			t.Parallel()
			f := newSumlessS3(rf.status, rf.code)
			s, lg := newSumlessStore(t, f)
			ctx := t.Context()

			small := randomBytes(1, 1000)
			if _, err := hashedPut(ctx, s, "/small", small); err != nil {
				t.Fatalf("first Put: %v", err)
			}
			reqs := f.take()
			var kinds []string
			for _, r := range reqs {
				kinds = append(kinds, r.String())
			}
			if len(reqs) != 2 || reqs[0].kind != "PUT" || !reqs[0].refused || !slices.Contains(reqs[0].sums, "x-amz-checksum-crc32") || reqs[0].signed ||
				reqs[1].kind != "PUT" || reqs[1].refused || len(reqs[1].sums) != 0 || !reqs[1].signed {
				t.Errorf("first Put's requests %q (signed payload %v), want a refused unsigned PUT with x-amz-checksum-crc32, then a signed PUT without",
					kinds, []bool{len(reqs) > 0 && reqs[0].signed, len(reqs) > 1 && reqs[1].signed})
			}
			o := f.object("small")
			if o == nil || !bytes.Equal(o.data, small) {
				t.Fatalf("stored %v, want the 1,000 bytes sent", o)
			}
			if o.meta["bucketftp-sha256"] != hexSHA256(small) || o.meta["bucketftp-crc32"] != hexCRC32(small) {
				t.Errorf("metadata %v, want bucketftp-sha256 %s and bucketftp-crc32 %s", o.meta, hexSHA256(small), hexCRC32(small))
			}
			if n := lg.count(logRefused); n != 1 {
				t.Errorf("%q logged %d times, want once:\n%s", logRefused, n, lg.b.String())
			}

			for i, data := range [][]byte{randomBytes(2, 11<<20), randomBytes(3, 10), randomBytes(4, 5<<20)} {
				name := fmt.Sprintf("later%d", i)
				sums, err := hashedPut(ctx, s, "/"+name, data)
				if err != nil {
					t.Fatalf("Put of %d bytes after the fallback: %v", len(data), err)
				}
				for _, r := range f.take() {
					if slices.Contains(uploadKinds, r.kind) && (len(r.sums) > 0 || !r.signed) {
						t.Errorf("Put of %d bytes after the fallback: %s (signed payload %v), want no checksum header and a signed payload", len(data), r, r.signed)
					}
				}
				if o := f.object(name); o == nil || !bytes.Equal(o.data, data) {
					t.Errorf("Put of %d bytes after the fallback: not stored whole", len(data))
				}
				if sums[storage.SHA256] != hexSHA256(data) || sums[storage.CRC32] != hexCRC32(data) {
					t.Errorf("Put of %d bytes after the fallback: checksums %v, want SHA-256 %s and CRC32 %s", len(data), sums, hexSHA256(data), hexCRC32(data))
				}
			}
			if n := lg.count(logRefused); n != 1 {
				t.Errorf("%q logged %d times, want once", logRefused, n)
			}
		})
	}
}

// TestChecksumsFallbackMultipartFirst: when the first upload is a
// multipart one, CreateMultipartUpload with ChecksumAlgorithm CRC32 is
// refused and a plain one made: the upload is stored whole, no part or
// completion carries a checksum, the fallback is logged once, and the
// upload's checksums still include its CRC32 (the one recorded in the
// tags and the upload event), which the store no longer computes.
func TestChecksumsFallbackMultipartFirst(t *testing.T) {
	t.Parallel()
	for _, rf := range refusals {
		t.Run(rf.code, func(t *testing.T) {
			t.Parallel()
			f := newSumlessS3(rf.status, rf.code)
			s, lg := newSumlessStore(t, f)
			big := randomBytes(5, 11<<20)
			sums, err := hashedPut(t.Context(), s, "/big", big)
			if err != nil {
				t.Fatalf("first Put, multipart: %v", err)
			}
			reqs := f.take()
			if len(reqs) == 0 || reqs[0].kind != "MPU-CREATE" || !reqs[0].refused {
				t.Errorf("first request %v, want a refused CreateMultipartUpload with the checksum algorithm", reqs)
			}
			parts := 0
			for _, r := range reqs[1:] {
				if r.kind == "MPU-PART" {
					parts++
				}
				if slices.Contains(uploadKinds, r.kind) && (len(r.sums) > 0 || r.refused || !r.signed) {
					t.Errorf("after the refused create: %s (signed payload %v), want no checksum header and a signed payload", r, r.signed)
				}
			}
			if parts != 3 {
				t.Errorf("%d parts sent, want 3 of 11 MiB in 5 MiB parts", parts)
			}
			o := f.object("big")
			if o == nil || !bytes.Equal(o.data, big) {
				t.Fatal("the multipart upload is not stored whole")
			}
			if o.tags["bucketftp-crc32"] != hexCRC32(big) || o.tags["bucketftp-sha256"] != hexSHA256(big) {
				t.Errorf("the multipart upload's tags %v, want bucketftp-crc32 %s and bucketftp-sha256 %s", o.tags, hexCRC32(big), hexSHA256(big))
			}
			if n := lg.count(logRefused); n != 1 {
				t.Errorf("%q logged %d times, want once", logRefused, n)
			}
			if sums[storage.SHA256] != hexSHA256(big) {
				t.Errorf("upload's SHA-256 %q, want %s", sums[storage.SHA256], hexSHA256(big))
			}
			if sums[storage.CRC32] != hexCRC32(big) {
				t.Errorf("upload's CRC32 %q, want %s: the store took it over (Hashing.Take) and then neither it nor the store computed it", sums[storage.CRC32], hexCRC32(big))
			}
		})
	}
}

// TestChecksumsFallbackRecordsMultipartSums: after the fallback, a
// multipart upload's checksums are still recorded as its tags, so HASH of
// it needs no read: the PutObjectTagging must not carry the checksum
// header the store refuses either.
func TestChecksumsFallbackRecordsMultipartSums(t *testing.T) {
	t.Parallel()
	f := newSumlessS3(400, "InvalidArgument")
	s, lg := newSumlessStore(t, f)
	ctx := t.Context()
	if _, err := hashedPut(ctx, s, "/small", randomBytes(6, 10)); err != nil { // the fallback
		t.Fatal(err)
	}
	big := randomBytes(7, 6<<20)
	if _, err := hashedPut(ctx, s, "/big", big); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.take() {
		if r.kind == "PUT-TAGGING" && r.refused {
			t.Errorf("after the fallback: %s", r)
		}
	}
	o := f.object("big")
	if o == nil {
		t.Fatal("the multipart upload is not stored")
	}
	if o.tags["bucketftp-sha256"] != hexSHA256(big) {
		t.Errorf("multipart upload's tags %v, want bucketftp-sha256 %s (log: %s)", o.tags, hexSHA256(big), lg.b.String())
	}
	ctx, q := storage.WithChecksumQuery(ctx)
	if _, err := s.Stat(ctx, "/big"); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := q.Result(); got[storage.SHA256] != hexSHA256(big) {
		t.Errorf("recorded checksums of the multipart upload: %v, want SHA-256 %s", got, hexSHA256(big))
	}
}

// TestChecksumsFallbackAndConditionalWrites: an upload that must not
// replace a file (a user without overwrite) is the first of all, on a
// store that lacks one of additional checksums and conditional writes
// (If-None-Match: *). Either way it is stored whole, and later ones keep
// what the store has: If-None-Match where it refused only the checksum,
// the checksum where it refused only If-None-Match. An existing file is
// not replaced.
func TestChecksumsFallbackAndConditionalWrites(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		sums, cond bool // what the store has
		want       string
	}{
		{"refuses checksums with NotImplemented", false, true, "PUT-IF-NONE-MATCH b"},
		{"refuses If-None-Match", true, false, "HEAD b,PUT b [x-amz-checksum-crc32]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSumlessS3(501, "NotImplemented")
			f.accept.Store(tc.sums)
			f.noCond = !tc.cond
			s, _ := newSumlessStore(t, f)
			put := func(name string, data []byte) error {
				ctx, _ := storage.WithNoReplace(t.Context())
				_, err := s.Put(ctx, name, bytes.NewReader(data), -1)
				return err
			}
			a := randomBytes(8, 10)
			if err := put("/a", a); err != nil {
				t.Errorf("first no-replace Put of a new file: %v", err)
			}
			if o := f.object("a"); o == nil || !bytes.Equal(o.data, a) {
				t.Errorf("first no-replace Put of a new file: stored %v, want its 10 bytes", o)
			}
			f.take()
			if err := put("/b", randomBytes(9, 10)); err != nil {
				t.Fatalf("second no-replace Put: %v", err)
			}
			var kinds []string
			for _, r := range f.take() {
				kinds = append(kinds, r.String())
			}
			if strings.Join(kinds, ",") != tc.want {
				t.Errorf("second no-replace Put: %q, want %q", kinds, tc.want)
			}
			if err := put("/b", []byte("other")); !errors.Is(err, storage.ErrWouldReplace) {
				t.Errorf("no-replace Put over a file: %v, want ErrWouldReplace", err)
			}
		})
	}
}

// TestChecksumsRefusedAfterAccepted: once the store has taken an upload
// with checksums, a later refusal of them fails that upload (nothing
// stored) and does not turn them off, whether the upload taken was a
// single PUT or a multipart one (docs/s3.md, "Stores without additional
// checksums").
func TestChecksumsRefusedAfterAccepted(t *testing.T) {
	t.Parallel()
	for _, first := range []struct {
		name string
		size int
	}{{"single PUT", 100}, {"multipart", 6 << 20}} {
		t.Run(first.name, func(t *testing.T) {
			t.Parallel()
			f := newSumlessS3(400, "InvalidRequest")
			f.accept.Store(true)
			s, lg := newSumlessStore(t, f)
			if _, err := hashedPut(t.Context(), s, "/first", randomBytes(10, first.size)); err != nil {
				t.Fatal(err)
			}
			f.accept.Store(false)
			if _, err := hashedPut(t.Context(), s, "/second", randomBytes(11, 100)); err == nil {
				t.Error("a PUT whose checksum the store refused after taking one succeeded")
			}
			if f.object("second") != nil {
				t.Error("the refused upload is stored")
			}
			if n := lg.count(logRefused); n != 0 {
				t.Errorf("%q logged after the store had taken checksums", logRefused)
			}
			f.take()
			f.accept.Store(true)
			if _, err := hashedPut(t.Context(), s, "/third", randomBytes(12, 100)); err != nil {
				t.Fatal(err)
			}
			if reqs := f.take(); len(reqs) == 0 || !slices.Contains(reqs[len(reqs)-1].sums, "x-amz-checksum-crc32") {
				t.Errorf("the next upload's requests %v, want a PUT with x-amz-checksum-crc32", reqs)
			}
		})
	}
}

// TestChecksumsFallbackRequiredChecksums: the requests S3 requires a body
// checksum of, PutObjectTagging (a copy in parts keeps a multipart
// upload's recorded checksums, copy.go) and DeleteObjects (stale
// modification-time entries, mtindex.go), carry the SDK's CRC32 on a store
// that takes it, and Content-MD5 instead once the store refused checksums:
// the tags are copied and the keys deleted.
func TestChecksumsFallbackRequiredChecksums(t *testing.T) {
	t.Parallel()
	for _, refuses := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuses=%v", refuses), func(t *testing.T) {
			t.Parallel()
			f := newSumlessS3(400, "InvalidArgument")
			f.accept.Store(!refuses)
			s, lg := newSumlessStore(t, f)
			ctx := t.Context()
			if _, err := hashedPut(ctx, s, "/small", randomBytes(13, 10)); err != nil { // the fallback, if any
				t.Fatal(err)
			}
			f.mu.Lock()
			tags := map[string]string{"bucketftp-sha256": hexSHA256([]byte("x"))}
			f.objects["src"] = &fakeObject{key: "src", tags: tags}
			f.objects["dst"] = &fakeObject{key: "dst"}
			f.objects["stale1"] = &fakeObject{key: "stale1"}
			f.objects["stale2"] = &fakeObject{key: "stale2"}
			f.mu.Unlock()
			f.take()

			s.copyTags(ctx, "/dst", "src", "dst")
			if err := s.deleteKeys(ctx, []string{"stale1", "stale2"}); err != nil {
				t.Errorf("deleteKeys: %v", err)
			}
			for _, r := range f.take() {
				if r.kind != "PUT-TAGGING" && r.kind != "DELETE-OBJECTS" {
					continue
				}
				hasCRC := slices.Contains(r.sums, "x-amz-checksum-crc32")
				if r.refused || hasCRC == refuses || r.md5 != refuses {
					t.Errorf("%s, want %s", r, map[bool]string{false: "x-amz-checksum-crc32", true: "Content-MD5 and no checksum header"}[refuses])
				}
			}
			if o := f.object("dst"); o == nil || !maps.Equal(o.tags, tags) {
				t.Errorf("copied tags %v, want %v (log: %s)", o, tags, lg.b.String())
			}
			if f.object("stale1") != nil || f.object("stale2") != nil {
				t.Error("DeleteObjects left the keys")
			}
		})
	}
}

// TestChecksumsFallbackNoReplaceOverFile: the first upload of all is one
// that must not replace a file, onto an existing file, on a store that
// refuses the checksum header with InvalidArgument: it fails as a
// would-replace (550), not as the refusal (451), and the file is kept.
func TestChecksumsFallbackNoReplaceOverFile(t *testing.T) {
	t.Parallel()
	for _, noCond := range []bool{false, true} {
		t.Run(fmt.Sprintf("noCond=%v", noCond), func(t *testing.T) {
			t.Parallel()
			f := newSumlessS3(400, "InvalidArgument")
			f.noCond = noCond
			f.objects["a"] = &fakeObject{key: "a", data: []byte("old")}
			s, _ := newSumlessStore(t, f)
			ctx, _ := storage.WithNoReplace(t.Context())
			if _, err := s.Put(ctx, "/a", bytes.NewReader([]byte("new")), -1); !errors.Is(err, storage.ErrWouldReplace) {
				t.Errorf("no-replace Put over a file: %v, want ErrWouldReplace", err)
			}
			if o := f.object("a"); o == nil || string(o.data) != "old" {
				t.Errorf("the file is now %v, want it kept", o)
			}
		})
	}
}

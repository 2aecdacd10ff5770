package integration

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// sumsProxy sits in front of target and looks at what bucketftp sends:
// the checksum headers of each upload request against the CRC32 of its
// body, and the GETs that only read tags. With flip set, it changes one
// byte of the body of the next PUT or UploadPart before passing it on, as
// a broken network path or proxy would.
type sumsProxy struct {
	addr string

	mu        sync.Mutex
	problems  []string
	creates   []http.Header
	tagGETs   int
	flip      atomic.Bool
	flipped   atomic.Int32
	uploads   int // PUTs and parts carrying x-amz-checksum-crc32
	completes []http.Header
	// beforeTagging, when set, runs before a PutObjectTagging is passed
	// on, with the request's path.
	beforeTagging atomic.Pointer[func(path string)]
}

func newSumsProxy(t testing.TB, target string) *sumsProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &sumsProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p.mu.Lock()
		switch {
		case r.Method == http.MethodGet && q.Has("tagging"):
			p.tagGETs++
		case r.Method == http.MethodPost && q.Has("uploads"):
			p.creates = append(p.creates, r.Header.Clone())
		case r.Method == http.MethodPost && q.Has("uploadId"):
			p.completes = append(p.completes, r.Header.Clone())
		}
		p.mu.Unlock()
		if f := p.beforeTagging.Load(); f != nil && r.Method == http.MethodPut && q.Has("tagging") {
			(*f)(r.URL.Path)
		}
		isData := r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") == "" && !q.Has("tagging") &&
			!strings.Contains(r.URL.Path, ".bucketftp")
		if isData {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			if got := r.Header.Get("X-Amz-Checksum-Crc32"); got != "" {
				var c [4]byte
				binary.BigEndian.PutUint32(c[:], crc32.ChecksumIEEE(body))
				p.mu.Lock()
				p.uploads++
				if want := base64.StdEncoding.EncodeToString(c[:]); got != want {
					p.problems = append(p.problems, fmt.Sprintf("%s %s: x-amz-checksum-crc32 %s, body's %s", r.Method, r.URL.Path, got, want))
				}
				p.mu.Unlock()
			}
			if len(body) > 0 && p.flip.CompareAndSwap(true, false) {
				body[len(body)/2] ^= 0x20
				p.flipped.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rp.ServeHTTP(w, r)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = "http://" + l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *sumsProxy) tagReads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tagGETs
}

// cmdText sends a command and returns its reply.
func (r *rawFTP) cmdText(cmd string) (int, string) {
	r.t.Helper()
	fmt.Fprintf(r.c, "%s\r\n", cmd)
	return r.reply()
}

// storFrom uploads what src yields and returns the final reply.
func (r *rawFTP) storFrom(name string, src io.Reader) (int, string) {
	r.t.Helper()
	return r.sendFrom("STOR", name, src)
}

// sendFrom uploads what src yields with verb (STOR, APPE) and returns the
// final reply.
func (r *rawFTP) sendFrom(verb, name string, src io.Reader) (int, string) {
	r.t.Helper()
	d := r.pasv()
	fmt.Fprintf(r.c, "%s %s\r\n", verb, name)
	if code, text := r.reply(); code != 150 && code != 125 {
		d.Close()
		return code, text
	}
	d.SetWriteDeadline(time.Now().Add(5 * time.Minute))
	_, err := io.Copy(d, src)
	d.Close()
	if err != nil {
		r.t.Logf("sending %s: %v", name, err)
	}
	return r.reply()
}

func b64crc(data []byte) string {
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], crc32.ChecksumIEEE(data))
	return base64.StdEncoding.EncodeToString(c[:])
}

func hexOf(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func sha(data []byte) string { s := sha256.Sum256(data); return hex.EncodeToString(s[:]) }

// patterned is n bytes of a repeating, non-trivial pattern, streamed.
func patterned(n int64) io.Reader {
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*7 + i>>8)
	}
	return io.LimitReader(&repeat{b: block}, n)
}

type repeat struct {
	b   []byte
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

// TestChecksumsRecordedInS3: what an upload through bucketftp leaves in
// MinIO, read with minio-go as any S3 tool would: the store's own CRC32
// of the whole object (HeadObject with ChecksumMode ENABLED), SHA-256 and
// the other enabled checksums as x-amz-meta-bucketftp-* on a single PUT
// and as tags on a multipart upload, kept by RNTO and MFMT. Every PUT and
// part carried the CRC32 of its body, multipart uploads were FULL_OBJECT
// CRC32. HASH of a 1 GiB upload answers within a second with no GET of
// the object.
func TestChecksumsRecordedInS3(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	rec := newS3Recorder(t, shared.endpoint)
	px := newSumsProxy(t, rec.addr)
	via := *shared
	via.endpoint = px.addr
	store := via.newStore(t, bucket, "")
	addr := startFTPUsers(t, store, auth.User{Name: "u", Home: "/u"},
		auth.User{Name: "wo", Home: "/u", Permissions: []string{"write"}})
	c := loginAs(t, addr, "u")
	ctx := t.Context()

	small := []byte(strings.Repeat("small file\n", 100))
	big := make([]byte, 13<<20) // three parts of 6 MiB
	if _, err := io.ReadFull(patterned(int64(len(big))), big); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"small.txt": small, "big.bin": big} {
		if code := c.stor(name, string(data)); code != 226 {
			t.Fatalf("STOR %s: %d", name, code)
		}
	}
	check := func(key string, data []byte, multipart bool) {
		t.Helper()
		info, err := shared.client.StatObject(ctx, bucket, key, miniogo.StatObjectOptions{Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		if info.ChecksumCRC32 != b64crc(data) {
			t.Errorf("%s: store's CRC32 %q, want %q (of the whole object)", key, info.ChecksumCRC32, b64crc(data))
		}
		recorded := info.UserMetadata["Bucketftp-Sha256"]
		if multipart {
			tg, err := shared.client.GetObjectTagging(ctx, bucket, key, miniogo.GetObjectTaggingOptions{})
			if err != nil {
				t.Fatal(err)
			}
			recorded = tg.ToMap()["bucketftp-sha256"]
			if tg.ToMap()["bucketftp-crc32"] == "" {
				t.Errorf("%s: tags %v lack bucketftp-crc32", key, tg.ToMap())
			}
		}
		if recorded != sha(data) {
			t.Errorf("%s: recorded SHA-256 %q, want %q (metadata %v)", key, recorded, sha(data), info.UserMetadata)
		}
	}
	check("u/small.txt", small, false)
	check("u/big.bin", big, true)

	px.mu.Lock()
	if len(px.problems) > 0 {
		t.Errorf("upload requests: %s", strings.Join(px.problems, "; "))
	}
	if px.uploads < 4 {
		t.Errorf("%d PUTs and parts carried x-amz-checksum-crc32, want 4 (one PUT, three parts)", px.uploads)
	}
	for _, h := range px.creates {
		if h.Get("X-Amz-Checksum-Algorithm") != "CRC32" || h.Get("X-Amz-Checksum-Type") != "FULL_OBJECT" {
			t.Errorf("CreateMultipartUpload: checksum algorithm %q type %q, want CRC32 FULL_OBJECT", h.Get("X-Amz-Checksum-Algorithm"), h.Get("X-Amz-Checksum-Type"))
		}
	}
	for _, h := range px.completes {
		if h.Get("X-Amz-Checksum-Crc32") != b64crc(big) {
			t.Errorf("CompleteMultipartUpload: x-amz-checksum-crc32 %q, want the whole object's %q", h.Get("X-Amz-Checksum-Crc32"), b64crc(big))
		}
	}
	px.mu.Unlock()

	// Answered from the recorded values: no GET of the object.
	tagsBefore := px.tagReads()
	rec.take()
	noRead := func(what string) {
		t.Helper()
		reqs := rec.take()
		if n := count(reqs, "GET"); n > 0 { // tag reads are GET-TAGGING
			t.Errorf("%s: %d GETs of objects (%s): %v", what, n, summary(reqs), reqs)
		}
	}
	// The algorithms recorded by default (--checksums sha256,crc32).
	for _, name := range []string{"small.txt", "big.bin"} {
		for _, verb := range []string{"HASH", "XSHA256", "XCRC"} {
			if code, text := c.cmdText(verb + " " + name); code/100 != 2 {
				t.Errorf("%s %s: %d %s", verb, name, code, text)
			}
		}
	}
	tagsRead := px.tagReads() - tagsBefore
	noRead("HASH and the X commands")
	if tagsRead == 0 {
		t.Error("the multipart object's tags were never read")
	}
	// Others are computed by reading, and right.
	if _, text := c.cmdText("XMD5 small.txt"); text != "250 "+fmt.Sprintf("%x", md5.Sum(small)) {
		t.Errorf("XMD5 small.txt: %q", text)
	}
	if code, text := c.cmdText("HASH big.bin"); text != fmt.Sprintf("213 SHA-256 0-%d %s big.bin", len(big), sha(big)) {
		t.Errorf("HASH big.bin: %d %q", code, text)
	}

	// RNTO copies metadata and tags; MFMT's copy onto itself keeps them.
	c.must("RNFR small.txt", 350)
	c.must("RNTO moved.txt", 250)
	c.must("RNFR big.bin", 350)
	c.must("RNTO moved.bin", 250)
	c.must("MFMT 20200102030405 moved.txt", 213)
	c.must("MFMT 20200102030405 moved.bin", 213)
	check("u/moved.txt", small, false)
	check("u/moved.bin", big, true)
	rec.take()
	for name, data := range map[string][]byte{"moved.txt": small, "moved.bin": big} {
		if _, text := c.cmdText("XSHA256 " + name); text != "250 "+sha(data) {
			t.Errorf("XSHA256 %s after RNTO and MFMT: %q", name, text)
		}
	}
	noRead("HASH after RNTO and MFMT")

	// A write-only user learns nothing, recorded or not.
	wo := loginAs(t, addr, "wo")
	wo.must("HASH moved.txt", 550)
	wo.must("XSHA256 moved.bin", 550)

	// APPE onto a file of 5 MiB or more: the kept bytes are copied in the
	// store, never read (one ranged GET of the last block's bytes), and
	// the checksums go on from the old object's recorded end state: the
	// new object records the whole file's, and HASH reads nothing. Onto
	// the multipart object (tags) and onto a single PUT of 5.5 MiB
	// (metadata), twice in a row.
	mid := big[:11<<19]
	if code := c.stor("mid.bin", string(mid)); code != 226 {
		t.Fatalf("STOR mid.bin: %d", code)
	}
	for name, data := range map[string][]byte{"moved.bin": big, "mid.bin": mid} {
		whole := append([]byte{}, data...)
		for _, more := range []string{"more", strings.Repeat("and more ", 1000)} {
			rec.take()
			d := c.pasv()
			fmt.Fprintf(c.c, "APPE %s\r\n", name)
			c.expect(150, 125)
			d.Write([]byte(more))
			d.Close()
			c.expect(226)
			whole = append(whole, more...)
			if info, err := shared.client.StatObject(ctx, bucket, "u/"+name, miniogo.StatObjectOptions{}); err != nil || info.Size != int64(len(whole)) {
				t.Errorf("after APPE onto %s: %d bytes stored (%v), want %d", name, info.Size, err, len(whole))
			}
			// SIZE answers from what this server just uploaded: the whole
			// file, not the appended bytes (a second APPE within seconds
			// took that size as the offset and kept only those).
			if _, text := c.cmdText("SIZE " + name); text != fmt.Sprintf("213 %d", len(whole)) {
				t.Errorf("SIZE %s after APPE: %q, want %d", name, text, len(whole))
			}
			reqs := rec.take()
			if n := count(reqs, "GET"); n > 1 {
				t.Errorf("APPE %s: %d GETs of objects (%s), want one of the last bytes", name, n, summary(reqs))
			}
			if _, text := c.cmdText("HASH " + name); text != fmt.Sprintf("213 SHA-256 0-%d %s %s", len(whole), sha(whole), name) {
				t.Errorf("HASH %s after APPE: %q, want %s", name, text, sha(whole))
			}
			if _, text := c.cmdText("XCRC " + name); text != fmt.Sprintf("250 %08x", crc32.ChecksumIEEE(whole)) {
				t.Errorf("XCRC %s after APPE: %q, want %08x", name, text, crc32.ChecksumIEEE(whole))
			}
			noRead("HASH after APPE onto " + name)
			tg, err := shared.client.GetObjectTagging(ctx, bucket, "u/"+name, miniogo.GetObjectTaggingOptions{})
			if err != nil || tg.ToMap()["bucketftp-sha256"] != sha(whole) || tg.ToMap()["bucketftp-state"] == "" {
				t.Errorf("after APPE onto %s: tags %v, %v; want the whole file's SHA-256 %s and its end state", name, tg, err, sha(whole))
			}
		}
	}
	// APPE to a file under 5 MiB: its kept bytes are read back and sent
	// again, hashed with the new ones, so the whole file's checksums are
	// recorded and HASH reads nothing.
	if code := c.stor("short.txt", "first part, "); code != 226 {
		t.Fatalf("STOR short.txt: %d", code)
	}
	d := c.pasv()
	fmt.Fprintf(c.c, "APPE short.txt\r\n")
	c.expect(150, 125)
	d.Write([]byte("and more"))
	d.Close()
	c.expect(226)
	short := []byte("first part, and more")
	if info, err := shared.client.StatObject(ctx, bucket, "u/short.txt", miniogo.StatObjectOptions{}); err != nil || info.UserMetadata["Bucketftp-Sha256"] != sha(short) {
		t.Errorf("after APPE to a small file: metadata %v, %v; want the whole file's SHA-256 %s", info.UserMetadata, err, sha(short))
	}
	rec.take()
	if _, text := c.cmdText("HASH short.txt"); text != fmt.Sprintf("213 SHA-256 0-%d %s short.txt", len(short), sha(short)) {
		t.Errorf("HASH after APPE to a small file: %q", text)
	}
	noRead("HASH after APPE to a small file")

	if testing.Short() {
		return
	}
	// 1 GiB: HASH within a second, without a GET.
	const giB = 1 << 30
	h := sha256.New()
	if code, text := c.storFrom("huge.bin", io.TeeReader(patterned(giB), h)); code != 226 {
		t.Fatalf("STOR 1 GiB: %d %s", code, text)
	}
	rec.take()
	start := time.Now()
	_, text := c.cmdText("HASH huge.bin")
	took := time.Since(start)
	if want := fmt.Sprintf("213 SHA-256 0-%d %s huge.bin", giB, hexOf(h)); text != want {
		t.Errorf("HASH huge.bin = %q, want %q", text, want)
	}
	if took > time.Second {
		t.Errorf("HASH of 1 GiB took %v", took)
	}
	t.Logf("HASH of 1 GiB: %v", took)
	noRead("HASH of 1 GiB")
}

// TestChecksumsTagRace: another writer replaces a multipart object between
// its completion and the tagging of its checksums (the proxy puts it just
// before the PutObjectTagging goes on). The tags, which S3 cannot make
// conditional, land on the other object; bucketftp sees the ETag changed
// and removes them, so that object does not claim the upload's SHA-256
// or end state, and HASH computes its own by reading. It fails if the
// tags were left in place.
func TestChecksumsTagRace(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	px := newSumsProxy(t, shared.endpoint)
	via := *shared
	via.endpoint = px.addr
	store := via.newStore(t, bucket, "")
	addr := startFTPUsers(t, store, auth.User{Name: "u", Home: "/u"})
	c := loginAs(t, addr, "u")
	ctx := t.Context()

	ours := make([]byte, 13<<20)
	if _, err := io.ReadFull(patterned(int64(len(ours))), ours); err != nil {
		t.Fatal(err)
	}
	theirs := bytes.Repeat([]byte("another writer's bytes\n"), 1000)
	replaced := make(chan error, 1)
	hook := func(path string) {
		_, err := shared.client.PutObject(ctx, bucket, "u/raced.bin", bytes.NewReader(theirs), int64(len(theirs)), miniogo.PutObjectOptions{})
		replaced <- err
	}
	px.beforeTagging.Store(&hook)
	if code, text := c.storFrom("raced.bin", bytes.NewReader(ours)); code != 226 {
		t.Fatalf("STOR: %d %s", code, text)
	}
	px.beforeTagging.Store(nil)
	select {
	case err := <-replaced:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("no PutObjectTagging came after the upload")
	}
	tags, err := shared.client.GetObjectTagging(ctx, bucket, "u/raced.bin", miniogo.GetObjectTaggingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := tags.ToMap(); m["bucketftp-sha256"] != "" || m["bucketftp-state"] != "" {
		t.Errorf("the other writer's object carries the upload's tags: %v", m)
	}
	if _, text := c.cmdText("HASH raced.bin"); text != fmt.Sprintf("213 SHA-256 0-%d %s raced.bin", len(theirs), sha(theirs)) {
		t.Errorf("HASH of the replaced object: %q, want %s", text, sha(theirs))
	}
}

// TestChecksumsCorruptionAndDeclared: a byte changed between bucketftp
// and the store fails the upload (the store checks the checksum sent with
// the PUT or part), and an upload whose bytes differ from what SITE
// CHECKSUM declared is not completed; either way no object and no open
// multipart upload is left.
func TestChecksumsCorruptionAndDeclared(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	px := newSumsProxy(t, shared.endpoint)
	via := *shared
	via.endpoint = px.addr
	store := via.newStore(t, bucket, "", func(c *s3store.Config) { c.PartSize = 5 << 20 })
	addr := startFTPUsers(t, store, auth.User{Name: "u", Home: "/u"})
	c := loginAs(t, addr, "u")
	ctx := t.Context()

	small := []byte("a small file whose bytes are damaged on the way\n")
	big := make([]byte, 11<<20)
	if _, err := io.ReadFull(patterned(int64(len(big))), big); err != nil {
		t.Fatal(err)
	}
	absent := func(key string) {
		t.Helper()
		if _, err := shared.client.StatObject(ctx, bucket, key, miniogo.StatObjectOptions{}); err == nil {
			t.Errorf("%s is visible", key)
		}
		if n := shared.openUploads(t, bucket); n != 0 {
			t.Errorf("%d multipart uploads left open", n)
		}
	}
	for name, data := range map[string][]byte{"flip-small": small, "flip-big": big} {
		px.flip.Store(true)
		before := px.flipped.Load()
		code, text := c.storFrom(name, bytes.NewReader(data))
		if px.flipped.Load() == before {
			t.Fatalf("%s: the proxy changed no byte", name)
		}
		if code/100 != 4 && code/100 != 5 {
			t.Errorf("STOR %s with a damaged body: %d %s, want a failure", name, code, text)
		}
		absent("u/" + name)
	}
	px.flip.Store(false)

	for name, data := range map[string][]byte{"decl-small": small, "decl-big": big} {
		c.must("SITE CHECKSUM SHA-256 "+sha(append(append([]byte{}, data...), 'x')), 200)
		if code, text := c.storFrom(name, bytes.NewReader(data)); code != 451 {
			t.Errorf("STOR %s not matching SITE CHECKSUM: %d %s, want 451", name, code, text)
		}
		absent("u/" + name)
		c.must("SITE CHECKSUM SHA-256 "+sha(data), 200)
		if code, text := c.storFrom(name, bytes.NewReader(data)); code != 226 {
			t.Errorf("STOR %s matching SITE CHECKSUM: %d %s", name, code, text)
		}
		obj, err := shared.client.GetObject(ctx, bucket, "u/"+name, miniogo.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: stored %d bytes (%v), want %d", name, len(got), err, len(data))
		}
	}
}

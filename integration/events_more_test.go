package integration

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	miniogo "github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/events"
	"github.com/bucketftp/bucketftp/events/natstest"
	bftp "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// eventsRig is an FTP server for user "u" (password "pw", home /u) on the
// prefix "p" of a bucket, whose events go through the bucket's outbox
// to sink, sent by a deliverer running in the test.
type eventsRig struct {
	bucket string
	addr   string
}

type rigOptions struct {
	ftp   func(*bftp.Config)
	store func(*s3store.Config)
}

func newEventsRig(t *testing.T, bucket string, sink events.Sink, opt rigOptions) *eventsRig {
	t.Helper()
	tune := []func(*s3store.Config){func(c *s3store.Config) { c.PartSize = resumePart; c.Timeout = 30 * time.Second }}
	if opt.store != nil {
		tune = append(tune, opt.store)
	}
	store := shared.newStore(t, bucket, "p", tune...)
	outbox := s3Outbox(store)
	d := runDelivererTo(t, outbox, sink)
	em, err := events.NewEmitter(events.EmitterConfig{Outbox: outbox, Source: "bucketftp://test", Wake: d.Wake,
		Namer: events.Namer{Bucket: bucket, Prefix: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	us := auth.NewStore(auth.StoreConfig{Backend: store, Logger: slog.New(slog.DiscardHandler)})
	if err := us.SetUsers([]auth.User{{Name: "u", PasswordHash: h, Home: "/u"}}); err != nil {
		t.Fatal(err)
	}
	cfg := bftp.Config{Auth: us, Storage: store, Events: em, LoginFailDelay: time.Millisecond}
	if opt.ftp != nil {
		opt.ftp(&cfg)
	}
	addr, _ := serveFTP(t, cfg)
	return &eventsRig{bucket: bucket, addr: addr}
}

// newHookRig is an eventsRig on a new bucket delivering to a webhook.
func newHookRig(t *testing.T, opt rigOptions) (*eventsRig, *hook) {
	t.Helper()
	h, url := newHook(t, "k")
	wh, err := events.NewWebhook(url, []byte("k"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return newEventsRig(t, shared.newBucket(t), wh, opt), h
}

// eventsDrained waits until the outbox of the bucket's prefix "p" holds no
// event: every event written so far has reached the sink.
func eventsDrained(t *testing.T, bucket string) {
	t.Helper()
	waitFor(t, "an empty outbox", func() bool {
		for o := range shared.client.ListObjects(t.Context(), bucket, miniogo.ListObjectsOptions{Prefix: "p/" + events.OutboxDir + "pending/", Recursive: true}) {
			if o.Err == nil {
				return false
			}
		}
		return true
	})
}

// eventSums is what an upload event's checksums should be for b: each of
// algos (event names) in lowercase hex.
func eventSums(b []byte, algos ...string) map[string]string {
	out := map[string]string{}
	for _, a := range algos {
		switch a {
		case "sha256":
			s := sha256.Sum256(b)
			out[a] = hex.EncodeToString(s[:])
		case "sha1":
			s := sha1.Sum(b)
			out[a] = hex.EncodeToString(s[:])
		case "sha512":
			s := sha512.Sum512(b)
			out[a] = hex.EncodeToString(s[:])
		case "md5":
			s := md5.Sum(b)
			out[a] = hex.EncodeToString(s[:])
		case "crc32":
			out[a] = fmt.Sprintf("%08x", crc32.ChecksumIEEE(b))
		default:
			panic("sumsOf: " + a)
		}
	}
	return out
}

func eventsNoObject(t *testing.T, bucket, key string) {
	t.Helper()
	if _, err := shared.client.StatObject(t.Context(), bucket, key, miniogo.StatObjectOptions{}); miniogo.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("object %s: %v, want NoSuchKey", key, err)
	}
}

// TestEventsCompletedChecksums: a real upload's upload.completed event
// carries the checksums the test computes from the bytes it sent, for
// the default set (SHA-256 and CRC32) and for every algorithm, for an
// empty file, one below a part (a single PUT) and one above (multipart);
// and its bucket, key, size, user, reply code, the object's ETag, no
// version id (the bucket is not versioned), and a CRC32 equal to the
// store's own full-object CRC32.
func TestEventsCompletedChecksums(t *testing.T) {
	t.Parallel()
	every := []string{storage.SHA1, storage.SHA512, storage.MD5, storage.CRC32}
	for _, tc := range []struct {
		name   string
		size   int64
		config []string // Config.Checksums; nil: the default
		want   []string
	}{
		{"empty", 0, nil, []string{"sha256", "crc32"}},
		{"below a part", 1000, nil, []string{"sha256", "crc32"}},
		{"multipart", resumePart + 1, nil, []string{"sha256", "crc32"}},
		{"every algorithm", 1000, every, []string{"sha256", "sha1", "sha512", "md5", "crc32"}},
		{"every algorithm multipart", 2*resumePart + 17, every, []string{"sha256", "sha1", "sha512", "md5", "crc32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rig, h := newHookRig(t, rigOptions{ftp: func(c *bftp.Config) { c.Checksums = tc.config }})
			src, _ := io.ReadAll(patterned(tc.size))
			c := loginAs(t, rig.addr, "u")
			if code, text := c.storFrom("f.bin", bytes.NewReader(src)); code != 226 {
				t.Fatalf("STOR: %q", text)
			}
			waitFor(t, "upload.completed", func() bool { return len(h.ofType("upload.completed")) >= 1 })
			eventsDrained(t, rig.bucket)
			got := h.ofType("upload.completed")
			if len(got) != 1 || len(h.events()) != 1 {
				t.Fatalf("%d events, %d of them upload.completed; want exactly 1", len(h.events()), len(got))
			}
			d := data(t, got[0])
			if want := eventSums(src, tc.want...); !maps.Equal(d.Checksums, want) {
				t.Errorf("checksums %v, want %v", d.Checksums, want)
			}
			const key = "p/u/f.bin"
			head, err := shared.client.StatObject(t.Context(), rig.bucket, key, miniogo.StatObjectOptions{Checksum: true})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Subject() != key || d.Bucket != rig.bucket || d.Key != key || d.Size == nil || *d.Size != tc.size ||
				d.User != "u" || d.ReplyCode != 226 || d.ETag == "" || d.ETag != head.ETag || d.VersionID != "" {
				t.Errorf("subject %q, data %+v; want bucket %s, key %s, size %d, user u, 226, ETag %s, no version",
					got[0].Subject(), d, rig.bucket, key, tc.size, head.ETag)
			}
			crc, _ := base64.StdEncoding.DecodeString(head.ChecksumCRC32)
			if hex.EncodeToString(crc) != d.Checksums["crc32"] {
				t.Errorf("event crc32 %s, the store's full-object CRC32 %q", d.Checksums["crc32"], head.ChecksumCRC32)
			}
			// The uploader's metadata, on single PUTs and multipart
			// uploads alike, so the store's own notifications carry it.
			if m := head.UserMetadata; m["Bucketftp-User"] != "u" || m["Bucketftp-Client"] != d.ClientAddress || m["Bucketftp-Session"] != d.SessionID {
				t.Errorf("%s: metadata %v, want user u, client %s, session %s", key, m, d.ClientAddress, d.SessionID)
			}
		})
	}
}

// TestEventsAppendChecksums: an APPE onto a multipart object, whose kept
// bytes are copied in the store and never read, still gives its
// upload.completed event the whole file's checksums in every algorithm
// (they go on from the old object's end state), and so does a second APPE
// onto the result. It fails if the event carried only the store's values
// or those of the appended bytes alone.
func TestEventsAppendChecksums(t *testing.T) {
	t.Parallel()
	every := []string{storage.SHA1, storage.SHA512, storage.MD5, storage.CRC32}
	rig, h := newHookRig(t, rigOptions{ftp: func(c *bftp.Config) { c.Checksums = every }})
	whole, _ := io.ReadAll(patterned(2*resumePart + 17))
	c := loginAs(t, rig.addr, "u")
	if code, text := c.storFrom("f.bin", bytes.NewReader(whole)); code != 226 {
		t.Fatalf("STOR: %q", text)
	}
	for i, more := range []string{"appended once", strings.Repeat("and again ", 300)} {
		if code, text := c.sendFrom("APPE", "f.bin", strings.NewReader(more)); code != 226 {
			t.Fatalf("APPE %d: %q", i+1, text)
		}
		whole = append(whole, more...)
		waitFor(t, "upload.completed", func() bool { return len(h.ofType("upload.completed")) >= i+2 })
		got := h.ofType("upload.completed")
		d := data(t, got[len(got)-1])
		if want := eventSums(whole, "sha256", "sha1", "sha512", "md5", "crc32"); !maps.Equal(d.Checksums, want) {
			t.Errorf("APPE %d: checksums %v, want the whole file's %v", i+1, d.Checksums, want)
		}
		if d.Size == nil || *d.Size != int64(len(whole)) {
			t.Errorf("APPE %d: size %v, want %d", i+1, d.Size, len(whole))
		}
	}
}

// TestEventsVersionID: on a versioned bucket each upload.completed event
// carries the version the upload made, as the store reports it (a single
// PUT and a multipart upload), so two uploads of one name give two
// different version ids, both still listed.
func TestEventsVersionID(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	if err := shared.client.EnableVersioning(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
	h, url := newHook(t, "k")
	wh, err := events.NewWebhook(url, []byte("k"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rig := newEventsRig(t, bucket, wh, rigOptions{})
	c := loginAs(t, rig.addr, "u")
	versions := map[string][]string{} // key -> version ids, oldest first
	for i, up := range []struct {
		name string
		size int64
	}{{"v.txt", 10}, {"v.txt", 20}, {"big.bin", resumePart + 1}} {
		src, _ := io.ReadAll(patterned(up.size))
		if code, text := c.storFrom(up.name, bytes.NewReader(src)); code != 226 {
			t.Fatalf("STOR %s: %q", up.name, text)
		}
		waitFor(t, "upload.completed", func() bool { return len(h.ofType("upload.completed")) == i+1 })
		ce := h.ofType("upload.completed")[i]
		d := data(t, ce)
		key := "p/u/" + up.name
		head, err := shared.client.StatObject(t.Context(), bucket, key, miniogo.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Key != key || d.VersionID == "" || d.VersionID != head.VersionID || d.ETag != head.ETag {
			t.Errorf("upload %d of %s: event key %s version %q ETag %s; the store's version %q ETag %s",
				i+1, up.name, d.Key, d.VersionID, d.ETag, head.VersionID, head.ETag)
		}
		versions[key] = append(versions[key], d.VersionID)
	}
	if v := versions["p/u/v.txt"]; len(v) != 2 || v[0] == v[1] {
		t.Errorf("two uploads of v.txt: version ids %q, want two different", v)
	}
	listed := map[string]bool{}
	for o := range shared.client.ListObjects(t.Context(), bucket, miniogo.ListObjectsOptions{Prefix: "p/u/v.txt", WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		listed[o.VersionID] = true
	}
	for _, v := range versions["p/u/v.txt"] {
		if !listed[v] {
			t.Errorf("the event's version %s of v.txt is not among the bucket's versions %v", v, listed)
		}
	}
}

// resetDataConn closes c with an RST (SO_LINGER 0): a connection cut, not an
// end of data (a FIN is how a STOR's data ends in stream mode).
func resetDataConn(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestEventsCutUpload: an upload below one part that does not complete
// (the client resets the data connection, stops sending, or sends ABOR)
// gives exactly one upload.failed event with the reply code the client
// got, the bytes the server received and the key it would have had, and
// no upload.completed event; no object, no open multipart upload and no
// resume record are left.
func TestEventsCutUpload(t *testing.T) {
	t.Parallel()
	src, _ := io.ReadAll(patterned(100_000))
	const sent = 1000
	for _, tc := range []struct {
		name string
		cut  func(t *testing.T, c *rawFTP, d net.Conn) int // returns the reply to the STOR
		size int64                                         // the bytes received; -1: up to sent
	}{
		{"reset data connection", func(t *testing.T, c *rawFTP, d net.Conn) int {
			resetDataConn(t, d)
			code, _ := c.reply()
			return code
		}, -1},
		{"client stops sending", func(t *testing.T, c *rawFTP, d net.Conn) int {
			code, _ := c.reply() // at the stall timeout
			return code
		}, sent},
		{"ABOR", func(t *testing.T, c *rawFTP, d net.Conn) int {
			fmt.Fprintf(c.c, "ABOR\r\n")
			code, _ := c.reply()
			c.expect(226) // ABOR's own reply
			return code
		}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rig, h := newHookRig(t, rigOptions{ftp: func(c *bftp.Config) { c.StallTimeout = time.Second }})
			c := loginAs(t, rig.addr, "u")
			d := c.pasv()
			c.must("STOR cut.bin", 150, 125)
			d.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := d.Write(src[:sent]); err != nil {
				t.Fatal(err)
			}
			code := tc.cut(t, c, d)
			if code != 426 {
				t.Errorf("reply to the cut STOR: %d, want 426", code)
			}
			waitFor(t, "upload.failed", func() bool { return len(h.ofType("upload.failed")) >= 1 })
			eventsDrained(t, rig.bucket)
			failed := h.ofType("upload.failed")
			if len(failed) != 1 || len(h.events()) != 1 {
				t.Fatalf("%d events, %d of them upload.failed; want exactly one upload.failed", len(h.events()), len(failed))
			}
			fd := data(t, failed[0])
			if fd.Key != "p/u/cut.bin" || fd.Bucket != rig.bucket || fd.User != "u" || fd.ReplyCode != code || fd.Size == nil ||
				(tc.size >= 0 && *fd.Size != tc.size) || *fd.Size > sent || fd.ETag != "" || fd.Checksums != nil || fd.KeptBytes != 0 {
				t.Errorf("failure event %+v, want key p/u/cut.bin, user u, reply %d, at most %d bytes, no ETag, checksums or kept bytes", fd, code, sent)
			}
			eventsNoObject(t, rig.bucket, "p/u/cut.bin")
			if n := shared.openUploads(t, rig.bucket); n != 0 {
				t.Errorf("%d open multipart uploads", n)
			}
			if recs := pendingRecords(t, rig.bucket); len(recs) != 0 {
				t.Errorf("resume records %v, want none for an upload below one part", recs)
			}
		})
	}
}

// TestEventsInterruptedUploadKept: an upload cut off after two whole
// parts is kept for resuming (no object, its parts in an open multipart
// upload). It gives one upload.failed event (426, the bytes received, the
// bytes kept) and
// no upload.completed; the continuation (REST at the kept size + STOR)
// that completes it gives exactly one upload.completed event for the
// key, with the whole file's checksums and the bytes the continuation
// received. One deleted instead gives the usual deleted event.
func TestEventsInterruptedUploadKept(t *testing.T) {
	t.Parallel()
	rig, h := newHookRig(t, rigOptions{ftp: func(c *bftp.Config) { c.StallTimeout = time.Second }})
	src, _ := io.ReadAll(patterned(13 << 20))
	const sent = 2*resumePart + 1<<20
	const kept = 2 * resumePart
	if code := interruptedStorAs(t, rig.addr, "u", "big.bin", src, sent); code != 426 {
		t.Fatalf("interrupted STOR: %d, want 426", code)
	}
	waitFor(t, "upload.failed", func() bool { return len(h.ofType("upload.failed")) >= 1 })
	eventsDrained(t, rig.bucket)
	if n, f := len(h.events()), len(h.ofType("upload.failed")); n != 1 || f != 1 {
		t.Fatalf("%d events, %d upload.failed; want exactly one upload.failed", n, f)
	}
	fd := data(t, h.ofType("upload.failed")[0])
	if fd.Key != "p/u/big.bin" || fd.ReplyCode != 426 || fd.Size == nil || *fd.Size != sent || fd.Checksums != nil || fd.KeptBytes != kept {
		t.Errorf("failure event %+v, want p/u/big.bin, 426, %d bytes, no checksums, %d bytes kept", fd, sent, kept)
	}
	eventsNoObject(t, rig.bucket, "p/u/big.bin")
	if n := shared.openUploads(t, rig.bucket); n != 1 {
		t.Fatalf("%d open uploads, want the interrupted one kept", n)
	}
	if recs := pendingRecords(t, rig.bucket); len(recs) != 1 {
		t.Fatalf("resume records %v, want one", recs)
	}

	c := loginAs(t, rig.addr, "u")
	if _, n := sizeOf(t, c, "big.bin"); n != kept {
		t.Fatalf("SIZE of the kept upload: %d, want %d", n, kept)
	}
	c.must("REST "+strconv.Itoa(kept), 350)
	if code, text := c.storFrom("big.bin", bytes.NewReader(src[kept:])); code != 226 {
		t.Fatalf("resumed STOR: %q", text)
	}
	waitFor(t, "upload.completed", func() bool { return len(h.ofType("upload.completed")) >= 1 })
	eventsDrained(t, rig.bucket)
	if n, f, done := len(h.events()), len(h.ofType("upload.failed")), len(h.ofType("upload.completed")); n != 2 || f != 1 || done != 1 {
		t.Fatalf("%d events (%d failed, %d completed), want the failed one and exactly one completed", n, f, done)
	}
	d := data(t, h.ofType("upload.completed")[0])
	head, err := shared.client.StatObject(t.Context(), rig.bucket, "p/u/big.bin", miniogo.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := eventSums(src, "sha256", "crc32"); !maps.Equal(d.Checksums, want) {
		t.Errorf("the resumed upload's checksums %v, want the whole file's %v", d.Checksums, want)
	}
	if d.Key != "p/u/big.bin" || d.ReplyCode != 226 || d.ETag != head.ETag || d.Size == nil || *d.Size != int64(len(src)) {
		t.Errorf("completed event %+v, want p/u/big.bin, 226, ETag %s, %d bytes (the whole file's)", d, head.ETag, len(src))
	}
	if head.Size != int64(len(src)) {
		t.Errorf("object size %d, want %d", head.Size, len(src))
	}

	// Another one deleted instead of continued: its failure, then the
	// usual deleted event; nothing is left.
	if code := interruptedStorAs(t, rig.addr, "u", "gone.bin", src, sent); code != 426 {
		t.Fatalf("interrupted STOR: %d, want 426", code)
	}
	c.must("DELE gone.bin", 250)
	waitFor(t, "deleted", func() bool { return len(h.ofType("deleted")) >= 1 })
	eventsDrained(t, rig.bucket)
	if n, f, del := len(h.events()), len(h.ofType("upload.failed")), h.ofType("deleted"); n != 4 || f != 2 || len(del) != 1 || del[0].Subject() != "p/u/gone.bin" {
		t.Errorf("%d events (%d failed, %d deleted), want 4: a second upload.failed and one deleted of p/u/gone.bin", n, f, len(del))
	}
	if n := shared.openUploads(t, rig.bucket); n != 0 {
		t.Errorf("%d open uploads at the end", n)
	}
	if recs := pendingRecords(t, rig.bucket); len(recs) != 0 {
		t.Errorf("resume records left: %v", recs)
	}
}

// jetStreamEvents waits until the outbox is empty and returns the stream's
// messages as events, checking each one's Nats-Msg-Id is its event id
// and its subject names its type.
func jetStreamEvents(t *testing.T, st jetstream.Stream, bucket string) []event.Event {
	t.Helper()
	waitFor(t, "an event in the stream", func() bool {
		info, err := st.Info(t.Context())
		return err == nil && info.State.Msgs >= 1
	})
	eventsDrained(t, bucket)
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var ce event.Event
		if err := ce.UnmarshalJSON(m.Data); err != nil {
			t.Fatalf("message %d is not a CloudEvent: %v", seq, err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != ce.ID() {
			t.Errorf("message %d: Nats-Msg-Id %q, want the event id %s", seq, id, ce.ID())
		}
		if want := "bucketftp." + "events." + ce.Type()[len(events.TypePrefix):]; m.Subject != want {
			t.Errorf("message %d on %s, want %s", seq, m.Subject, want)
		}
		out = append(out, ce)
	}
	return out
}

// TestEventsNATSEndToEnd: a STOR through a real server on MinIO reaches
// an embedded NATS JetStream stream as exactly one upload.completed
// event, on bucketftp.events.upload.completed, with the key, size, user
// and checksums of the upload.
func TestEventsNATSEndToEnd(t *testing.T) {
	t.Parallel()
	natsURL, _, st := natstest.Start(t)
	sink, err := events.NewNATS(natsURL, "bucketftp.events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	rig := newEventsRig(t, shared.newBucket(t), sink, rigOptions{})
	payload := bytes.Repeat([]byte("nats,"), 300)
	c := loginAs(t, rig.addr, "u")
	if code, text := c.storFrom("n.csv", bytes.NewReader(payload)); code != 226 {
		t.Fatalf("STOR: %q", text)
	}
	got := jetStreamEvents(t, st, rig.bucket)
	if len(got) != 1 || got[0].Type() != events.TypePrefix+bftp.EventUploadCompleted {
		t.Fatalf("stream holds %d events, want exactly one upload.completed", len(got))
	}
	d := data(t, got[0])
	if d.Key != "p/u/n.csv" || d.Bucket != rig.bucket || d.Size == nil || *d.Size != int64(len(payload)) || d.User != "u" ||
		!maps.Equal(d.Checksums, eventSums(payload, "sha256", "crc32")) {
		t.Errorf("event data %+v, want p/u/n.csv, %d bytes, user u, the payload's checksums", d, len(payload))
	}
}

// TestEventsNATSProcess: the bucketftp binary started with --events-nats
// publishes a STOR's upload.completed event, once, to the stream.
func TestEventsNATSProcess(t *testing.T) {
	t.Parallel()
	natsURL, _, st := natstest.Start(t)
	bin := buildBucketftp(t, t.TempDir())
	bucket := shared.newBucket(t)
	storageURL := "s3://" + bucket + "/p?" + url.Values{"endpoint": {shared.endpoint}, "region": {"us-east-1"}, "path_style": {"true"}}.Encode()
	logs := &logBuffer{}
	p := startProc(t, logs, "env", "BUCKETFTP_USER=u", "BUCKETFTP_PASSWORD=pw", bin, "serve",
		"--listen", "127.0.0.1:0", "--storage", storageURL, "--events-nats", natsURL)
	listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
	var addr string
	waitFor(t, "bucketftp listening", func() bool {
		if p.exited() {
			t.Fatalf("bucketftp exited:\n%s", tail(logs.String(), 4000))
		}
		m := listening.FindStringSubmatch(logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	c := loginAs(t, addr, "u")
	if code, text := c.storFrom("p.csv", bytes.NewReader([]byte("a,b\n"))); code != 226 {
		t.Fatalf("STOR: %q", text)
	}
	got := jetStreamEvents(t, st, bucket)
	if len(got) != 1 || got[0].Type() != events.TypePrefix+bftp.EventUploadCompleted {
		t.Fatalf("stream holds %d events, want exactly one upload.completed:\n%s", len(got), tail(logs.String(), 4000))
	}
	if d := data(t, got[0]); d.Key != "p/p.csv" || d.Bucket != bucket || d.Checksums["sha256"] != sha([]byte("a,b\n")) {
		t.Errorf("event data %+v, want p/p.csv in %s with the file's SHA-256", d, bucket)
	}
}

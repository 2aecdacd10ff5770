package ftptest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

func testPassiveTimeoutGets425(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t), func(c *ftp.Config) { c.DataTimeout = 100 * time.Millisecond })
	e.put("/alice/f", "x")
	c := e.login("alice")
	c.must("PASV", 227)
	c.must("RETR f", 425)
	c.must("NOOP", 200)
}

func testSessionLimits(t *testing.T, nb newBackend) {
	t.Parallel()
	t.Run("long line gets 500 and the session survives", func(t *testing.T) {
		t.Parallel()
		e := startServer(t, nb(t))
		c := e.dial()
		c.must("NOOP "+strings.Repeat("x", 10000), 500)
		c.must("NOOP", 200)
	})
	t.Run("too many failed logins", func(t *testing.T) {
		t.Parallel()
		e := startServer(t, nb(t))
		c := e.dial()
		for range 2 {
			c.must("USER alice", 331)
			c.must("PASS bad", 530)
		}
		c.must("USER alice", 331)
		c.must("PASS bad", 421)
		if _, err := c.r.ReadByte(); err == nil {
			t.Fatal("connection still open")
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		t.Parallel()
		e := startServer(t, nb(t), func(c *ftp.Config) { c.IdleTimeout = 750 * time.Millisecond })
		c := e.login("alice")
		c.expect(421)
	})
	t.Run("stalled transfer", func(t *testing.T) {
		t.Parallel()
		e := startServer(t, nb(t), func(c *ftp.Config) { c.StallTimeout = 750 * time.Millisecond })
		c := e.login("alice")
		d := c.pasv()
		defer d.Close()
		c.send("STOR stalled.bin")
		c.expect1xx()
		if _, err := d.Write([]byte("some bytes, then nothing")); err != nil {
			t.Fatal(err)
		}
		c.expect(426)
		c.must("NOOP", 200) // the session lives on
		if _, err := e.stored("/alice/stalled.bin"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a stalled upload left a file: %v", err)
		}
	})
	t.Run("connections per IP", func(t *testing.T) {
		t.Parallel()
		e := startServer(t, nb(t), func(c *ftp.Config) { c.MaxConnectionsPerIP = 2 })
		e.dial()
		e.dial()
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := &ctl{t: t, c: conn, r: bufio.NewReader(conn)}
		c.expect(421)
	})
	t.Run("connections in total", func(t *testing.T) {
		t.Parallel()
		e := startServer(t, nb(t), func(c *ftp.Config) { c.MaxConnections = 1 })
		e.dial()
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := &ctl{t: t, c: conn, r: bufio.NewReader(conn)}
		c.expect(421)
	})
}

func testIdleTimeoutSparesTransfers(t *testing.T, nb newBackend) {
	t.Parallel()
	// A transfer counts as running however slowly its data flows (within
	// the stall timeout): a loaded machine pausing the client here must
	// not make the test fail.
	e := startServer(t, nb(t), func(c *ftp.Config) {
		c.IdleTimeout = 1500 * time.Millisecond
		c.StallTimeout = time.Minute
	})
	busy := e.login("alice")
	busy.must("TYPE I", 200)
	d := busy.pasv()
	busy.send("STOR long")
	busy.expect1xx()
	// Keep data flowing until an idle session proves the timeout has passed.
	idle := e.login("alice")
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		idle.c.SetReadDeadline(time.Now().Add(wait))
		io.ReadAll(idle.c)
	}()
	sent := 0
	for done := false; !done; {
		select {
		case <-gone:
			done = true
		default:
			d.SetWriteDeadline(time.Now().Add(wait))
			if _, err := d.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			sent++
			time.Sleep(5 * time.Millisecond) // pacing the stream, not waiting for a result
		}
	}
	d.Close()
	busy.expect(226)
	busy.must("NOOP", 200)
	if got, _ := e.stored("/alice/long"); len(got) != sent {
		t.Fatalf("stored %d bytes, sent %d", len(got), sent)
	}
}

// testRefusedUploadIsRead: an upload refused while its data is still
// coming (over the quota) is read to its end before the refusal, so the
// client sends it whole and then reads the 552, instead of meeting a
// reset data connection (which lftp takes for a broken network, and sends
// the file again). It fails if the server closes the data connection with
// the data unread: the client's write then fails.
func testRefusedUploadIsRead(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("quota")
	c.must("TYPE I", 200)
	if code, text := c.stor("STOR", "big.bin", strings.Repeat("q", 32<<20)); code != 552 {
		t.Fatalf("an upload over the quota: %d %q, want 552", code, text)
	}
	if _, err := e.stored("/q/big.bin"); err == nil {
		t.Error("the refused upload is stored")
	}
	c.must("NOOP", 200)
}

package ftptest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// testCrowdFromOneAddress: 200 sessions from one address (a partner's
// NAT, a script with many workers) log in and upload small files at once
// with the server's default limits, and every one is served.
func testCrowdFromOneAddress(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	const sessions = 200
	conns := make([]*ftp.ServerConn, sessions)
	errs := make([]error, sessions)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range sessions {
		wg.Go(func() {
			c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(wait))
			if err == nil {
				err = c.Login("alice", "alice-pw")
			}
			if err != nil {
				errs[i] = fmt.Errorf("login: %w", err)
				return
			}
			conns[i] = c
			<-start
			for n := range 3 {
				if err := c.Stor(fmt.Sprintf("crowd-%03d-%d.txt", i, n), strings.NewReader("a small file\n")); err != nil {
					errs[i] = fmt.Errorf("STOR %d: %w", n, err)
					return
				}
			}
		})
	}
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("200 sessions did not finish within 2 minutes")
	}
	failed := 0
	for i, err := range errs {
		if err != nil {
			if failed < 5 {
				t.Errorf("session %d: %v", i, err)
			}
			failed++
		}
	}
	for _, c := range conns {
		if c != nil {
			c.Quit()
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d sessions from one address failed with the default limits", failed, sessions)
	}
}

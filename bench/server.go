package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a bucketftp process.
type server struct {
	cmd   *exec.Cmd
	addr  string            // the control listener, from the "listening" log line
	addrs map[string]string // log message -> the addr= it named

	logDone chan struct{} // closed when the server's stderr reaches EOF (it exited)

	mu       sync.Mutex
	problems []string // the first WARN and ERROR lines of the server's log
	nProblem int
}

// buildServer compiles ./cmd/bucketftp into dir.
func buildServer(dir string) string {
	bin := filepath.Join(dir, "bucketftp")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/bucketftp").CombinedOutput(); err != nil {
		log.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// launch starts bin and waits (a minute at most) for the log lines whose
// msg is one of want, such as "listening", keeping the address each names.
// BENCH_SERVER_LOG=FILE keeps the server's log.
func launch(bin string, args, env []string, want ...string) *server {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	// The server dies with the benchmark, even on log.Fatal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// A pipe of our own rather than StderrPipe: it is read to EOF, so the
	// last lines (the shutdown's) are seen, and Wait does not close it.
	pr, pw, err := os.Pipe()
	check(err)
	cmd.Stderr = pw
	check(cmd.Start())
	pw.Close()
	s := &server{cmd: cmd, addrs: map[string]string{}, logDone: make(chan struct{})}
	re := regexp.MustCompile(`msg=("[^"]*"|\S+) .*\baddr=(\S+)`)
	found := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(s.logDone)
		var logf io.Writer = io.Discard
		if name := os.Getenv("BENCH_SERVER_LOG"); name != "" { // the server's stderr, for digging into a figure
			f, err := os.Create(name)
			check(err)
			defer f.Close()
			logf = f
		}
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				s.mu.Lock()
				if s.nProblem++; len(s.problems) < 10 {
					s.problems = append(s.problems, line)
				}
				s.mu.Unlock()
			}
			if m := re.FindStringSubmatch(line); m != nil {
				s.mu.Lock()
				s.addrs[strings.Trim(m[1], `"`)] = m[2]
				all := true
				for _, w := range want {
					_, ok := s.addrs[w]
					all = all && ok
				}
				s.mu.Unlock()
				if all {
					once.Do(func() { close(found) })
				}
			}
		}
	}()
	select {
	case <-found:
	case <-s.logDone:
		log.Fatal("server exited before listening")
	case <-time.After(time.Minute):
		log.Fatal("server did not start")
	}
	s.mu.Lock()
	s.addr = s.addrs["listening"]
	s.mu.Unlock()
	return s
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

// logProblems returns how many WARN and ERROR lines the server logged and
// the first of them.
func (s *server) logProblems() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nProblem, append([]string(nil), s.problems...)
}

package main

// The server's Prometheus metrics and the client-side error tally of the
// load benchmark.

import (
	"bufio"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scrape reads the server's Prometheus metrics into series -> value.
func scrape(addr string) map[string]float64 {
	c := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/metrics")
	check(err)
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if i := strings.LastIndexByte(l, ' '); i > 0 && !strings.HasPrefix(l, "#") {
			if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
				m[l[:i]] = v
			}
		}
	}
	check(sc.Err())
	return m
}

// summarize picks from the metrics the commands answered with 4xx/5xx,
// the logins and the transfers by result.
func summarize(m map[string]float64) (bad []string, logins, transfers string) {
	var ls, ts []string
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "bucketftp_commands_total{"):
			if code := label(k, "code"); code >= "4" {
				bad = append(bad, fmt.Sprintf("%s %s × %.0f", label(k, "verb"), code, v))
			}
		case strings.HasPrefix(k, "bucketftp_logins_total{"):
			ls = append(ls, fmt.Sprintf("%s %.0f", label(k, "result"), v))
		case strings.HasPrefix(k, "bucketftp_transfers_total{"):
			ts = append(ts, fmt.Sprintf("%s %s %.0f", label(k, "op"), label(k, "result"), v))
		}
	}
	slices.Sort(bad)
	slices.Sort(ls)
	slices.Sort(ts)
	return bad, strings.Join(ls, ", "), strings.Join(ts, ", ")
}

func label(series, name string) string {
	_, v, ok := strings.Cut(series, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}

// tally counts client-side errors by operation, keeping a few messages.
type tally struct {
	mu    sync.Mutex
	n     map[string]int
	first map[string][]string
}

func newTally() *tally { return &tally{n: map[string]int{}, first: map[string][]string{}} }

func (t *tally) add(op string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n[op]++
	if msg := err.Error(); len(t.first[op]) < 3 && !slices.Contains(t.first[op], msg) {
		t.first[op] = append(t.first[op], msg)
	}
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, v := range t.n {
		n += v
	}
	return n
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.n) == 0 {
		return "none"
	}
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(t.n)) {
		parts = append(parts, fmt.Sprintf("%s: %d (%s)", op, t.n[op], strings.Join(t.first[op], "; ")))
	}
	return strings.Join(parts, ", ")
}

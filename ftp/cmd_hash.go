package ftp

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/bucketftp/bucketftp/storage"
)

// File checksums: HASH (draft-bryan-ftpext-hash-02) with OPTS HASH, the
// older XSHA256, XSHA1, XSHA512, XMD5 and XCRC, and SITE CHECKSUM, which
// declares the checksum of the next upload.
//
// Every upload's checksums are computed while it streams in
// (storage.Hashing, in the user's view of the storage) and recorded by the
// store with the object (s3store: metadata, tags and the store's own
// CRC32), so these commands answer without reading the file. For a file
// with no recorded value (stored by another S3 client, or by APPE or
// REST+STOR, whose kept bytes are not read) the file is read, up to
// Config.HashMaxBytes.

// hashState is a session's HASH algorithm and what SITE CHECKSUM declared
// for its next upload. The upload's transfer goroutine takes the
// declaration and leaves its Hashing, hence the lock.
type hashState struct {
	algo string // selected with OPTS HASH; "" is SHA-256

	mu       sync.Mutex
	declared storage.Checksums
	upload   *storage.Hashing // the last upload's
}

// reset forgets OPTS HASH and SITE CHECKSUM, as REIN (and a new USER)
// resets every parameter (RFC 959 4.1.1).
func (h *hashState) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.algo, h.declared = "", nil
}

func (h *hashState) selected() string {
	if h.algo == "" {
		return storage.SHA256
	}
	return h.algo
}

// featHASH is HASH's FEAT line: every algorithm, the selected one starred.
func featHASH(selected string) string {
	var as []string
	for _, a := range storage.Algorithms() {
		if a == selected {
			a += "*"
		}
		as = append(as, a)
	}
	return "HASH " + strings.Join(as, ";")
}

// hashingOn reports whether uploads are hashed.
func (s *session) hashingOn() bool { return !s.srv.cfg.NoChecksums }

// startHashing makes the Hashing of an upload about to start, with what
// SITE CHECKSUM declared for it; nil when uploads are not hashed.
func (s *session) startHashing() *storage.Hashing {
	s.sums.mu.Lock()
	defer s.sums.mu.Unlock()
	declared := s.sums.declared
	s.sums.declared = nil
	s.sums.upload = nil
	if !s.hashingOn() && declared == nil {
		return nil
	}
	algos := s.srv.cfg.Checksums
	if !s.hashingOn() {
		algos = nil
	}
	s.sums.upload = storage.NewHashing(algos, declared)
	return s.sums.upload
}

// uploadSums returns the last upload's checksums for its event, merged
// over those the store reported, named as events name them ("sha256").
func (s *session) uploadSums(reported map[string]string) map[string]string {
	s.sums.mu.Lock()
	h := s.sums.upload
	s.sums.mu.Unlock()
	out := maps.Clone(reported)
	if sums := h.Sums(); len(sums) > 0 {
		if out == nil {
			out = map[string]string{}
		}
		maps.Copy(out, sums.ByEventName())
	}
	return out
}

// handleHASH answers "213 <algo> 0-<size> <hex> <name>" with the selected
// algorithm, for the whole file (no RANG: ranges are not offered).
func (s *session) handleHASH(ctx context.Context, arg string) error {
	algo := s.sums.selected()
	sum, size, err := s.checksum(ctx, arg, algo, wholeFile)
	if err != nil {
		return err
	}
	s.reply(codeFileStatus, algo+" 0-"+itoa(size)+" "+sum+" "+arg)
	return nil
}

// xhash is the handler of XSHA256, XSHA1, XSHA512, XMD5 or XCRC (verb):
// the hex checksum of the file, as the one-line "250 <hex>" ProFTPD,
// GlobalScape and Serv-U send (FluentFTP and WinSCP read the reply's
// text). The path may be quoted. After it, "<start> <end>" asks for the
// bytes from start up to (not including) end, as ProFTPD's mod_digest
// takes them: end beyond the file or not above start is 501. An unquoted
// path whose last two words are numbers is read as a path and a range; a
// file so named is given quoted.
func xhash(verb, algo string) func(*session, context.Context, string) error {
	return func(s *session, ctx context.Context, arg string) error {
		name, rng, err := xhashArgs(verb, arg)
		if err != nil {
			return err
		}
		sum, _, err := s.checksum(ctx, name, algo, rng)
		if err != nil {
			return err
		}
		s.reply(codeFileActionOK, sum)
		return nil
	}
}

// byteRange is the part of a file to hash: bytes start to end-1; the
// whole file when whole.
type byteRange struct {
	whole      bool
	start, end int64
}

var wholeFile = byteRange{whole: true}

// xhashArgs splits an X command's argument into its path and range.
func xhashArgs(verb, arg string) (string, byteRange, error) {
	syntax := refuse(codeArgSyntax, "Syntax: "+verb+" <path> [<start> <end>].")
	var name string
	var nums []string
	if strings.HasPrefix(arg, `"`) {
		quoted, rest, ok := strings.Cut(arg[1:], `"`)
		if !ok || quoted == "" {
			return "", byteRange{}, syntax
		}
		name, nums = quoted, strings.Fields(rest)
	} else {
		name = arg
		f := strings.Fields(arg)
		if n := len(f); n >= 3 && isUint(f[n-1]) && isUint(f[n-2]) {
			name = strings.TrimRight(arg, " ")
			for range 2 {
				name = strings.TrimRight(name[:strings.LastIndex(name, " ")], " ")
			}
			nums = f[n-2:]
		}
	}
	switch len(nums) {
	case 0:
		return name, wholeFile, nil
	case 2:
	default:
		return "", byteRange{}, syntax
	}
	start, err1 := strconv.ParseInt(nums[0], 10, 64)
	end, err2 := strconv.ParseInt(nums[1], 10, 64)
	switch {
	case err1 != nil || err2 != nil || start < 0:
		return "", byteRange{}, syntax
	case end <= start:
		return "", byteRange{}, refuse(codeArgSyntax, verb+" needs an end ("+itoa(end)+") above the start ("+itoa(start)+").")
	}
	return name, byteRange{start: start, end: end}, nil
}

func isUint(s string) bool {
	_, err := strconv.ParseUint(s, 10, 63)
	return err == nil
}

// checksum is the file's algo checksum (of rng of it) and the bytes
// hashed: for the whole file, the value recorded with it when the store
// has one for its current content, else computed by reading (the user's
// read permission applies either way), at most HashMaxBytes.
func (s *session) checksum(ctx context.Context, arg, algo string, rng byteRange) (string, int64, error) {
	p, err := s.resolve(arg)
	if err != nil {
		return "", 0, err
	}
	qctx, q := storage.WithChecksumQuery(ctx)
	e, err := s.acct.FS.Stat(qctx, p)
	switch {
	case err != nil:
		return "", 0, err
	case e.IsDir:
		return "", 0, refuse(codeActionNotTaken, "Not a regular file.")
	case !rng.whole && rng.end > e.Size:
		return "", 0, refuse(codeArgSyntax, "The end ("+itoa(rng.end)+") is beyond the file's "+itoa(e.Size)+" bytes.")
	}
	partial := !rng.whole && (rng.start > 0 || rng.end < e.Size) // a range of the whole file is the file
	if !partial {
		if sums, size, ok := q.Result(); ok && size == e.Size && sums[algo] != "" {
			return sums[algo], e.Size, nil
		}
		rng = byteRange{start: 0, end: e.Size}
	}
	n := rng.end - rng.start
	max := s.srv.cfg.HashMaxBytes
	if n > max {
		what := "No recorded " + algo + " for " + path.Base(p) + ", and at " + itoa(n)
		if partial {
			what = "At " + itoa(n)
		}
		return "", 0, refuse(codeActionNotTaken, what+" bytes it is larger than the "+itoa(max)+" this server hashes by reading.")
	}
	rc, err := s.acct.FS.Open(ctx, p, rng.start)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := storage.NewHash(algo)
	got, err := io.Copy(h, io.LimitReader(rc, n))
	switch {
	case err != nil:
		return "", 0, err
	case got != n:
		return "", 0, refuse(codeLocalError, path.Base(p)+" changed while it was hashed; try again.")
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// optsHash is OPTS HASH: without an argument the selected algorithm, with
// one the algorithm to select (501 when unknown).
func (s *session) optsHash(val string) error {
	val = strings.TrimSpace(val)
	if val == "" {
		s.reply(codeOK, s.sums.selected())
		return nil
	}
	algo, ok := storage.ParseAlgorithm(val)
	if !ok || algo != strings.ToUpper(val) {
		return refuse(codeArgSyntax, "Unknown algorithm; choose one of "+strings.Join(storage.Algorithms(), ", ")+".")
	}
	s.sums.algo = algo
	s.reply(codeOK, algo)
	return nil
}

// siteChecksum is SITE CHECKSUM <algo> <hex>: the next upload (STOR, STOU,
// or APPE of a new file) must have this checksum, or it is not stored
// (451). SITE CHECKSUM NONE forgets a declaration.
func (s *session) siteChecksum(arg string) error {
	const syntax = "Syntax: SITE CHECKSUM <SHA-256|SHA-1|SHA-512|MD5|CRC32> <hex>, or SITE CHECKSUM NONE."
	fields := strings.Fields(arg)
	if len(fields) == 1 && strings.EqualFold(fields[0], "NONE") {
		s.sums.mu.Lock()
		s.sums.declared = nil
		s.sums.mu.Unlock()
		s.reply(codeOK, "No checksum declared for the next upload.")
		return nil
	}
	if len(fields) != 2 {
		return refuse(codeArgSyntax, syntax)
	}
	algo, ok := storage.ParseAlgorithm(fields[0])
	if !ok {
		return refuse(codeArgSyntax, syntax)
	}
	sum := strings.ToLower(fields[1])
	if b, err := hex.DecodeString(sum); err != nil || len(b) != storage.NewHash(algo).Size() {
		return refuse(codeArgSyntax, "That is not a "+algo+" checksum in hex ("+itoa(int64(2*storage.NewHash(algo).Size()))+" digits).")
	}
	s.sums.mu.Lock()
	s.sums.declared = storage.Checksums{algo: sum}
	s.sums.mu.Unlock()
	s.reply(codeOK, algo+" "+sum+" declared for the next upload.")
	return nil
}

// isChecksumMismatch reports an upload refused for not matching its
// declared checksum.
func isChecksumMismatch(err error) bool {
	var cm *storage.ChecksumMismatch
	return errors.As(err, &cm)
}

package ftp

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/storage"
)

// recentSpan is how old a time may be and still be shown with hour and
// minute in a LIST line: half an average Gregorian year, as GNU ls uses.
// Times more than recentFuture ahead (clock skew aside) show the year too.
const (
	recentSpan   = 15778476 * time.Second
	recentFuture = time.Hour
)

// lsLine renders an entry the way `ls -l` does (and vsftpd and ProFTPD do),
// the only LIST form clients reliably parse:
//
//	drwxr-xr-x 1 ftp ftp            0 Jan  2 15:04 name
//	-rw-r--r-- 1 ftp ftp         1234 Jan  2  2006 name
//
// Object stores keep no modes or owners, so those columns are fixed. Times
// are UTC; an unknown (zero) time shows as the Unix epoch. The name is
// written as stored, without CRLF.
func lsLine(e storage.Entry, now time.Time) string {
	mode := "-rw-r--r--"
	if e.IsDir {
		mode = "drwxr-xr-x"
	}
	t := e.ModTime
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	t = t.UTC()
	layout := "Jan _2 15:04"
	if age := now.Sub(t); age > recentSpan || age < -recentFuture {
		layout = "Jan _2  2006"
	}
	size := strconv.FormatInt(e.Size, 10)
	if n := 12 - len(size); n > 0 {
		size = strings.Repeat(" ", n) + size
	}
	return mode + " 1 ftp ftp " + size + " " + t.Format(layout) + " " + e.Name
}

// factSet is a set of MLST/MLSD facts (RFC 3659 7.5), chosen per session
// with OPTS MLST.
type factSet uint8

const (
	factType factSet = 1 << iota
	factSize
	factModify
	factPerm

	defaultFacts = factType | factSize | factModify | factPerm
)

// factNames lists the supported facts in the order they are written.
var factNames = [...]struct {
	name string
	f    factSet
}{{"type", factType}, {"size", factSize}, {"modify", factModify}, {"perm", factPerm}}

// parseFacts reads OPTS MLST's argument, "type;size;" and so on. Names are
// case-insensitive and unknown ones are ignored (RFC 3659 7.9); an empty
// argument turns every fact off.
func parseFacts(s string) factSet {
	var f factSet
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		for _, fn := range factNames {
			if strings.EqualFold(part, fn.name) {
				f |= fn.f
			}
		}
	}
	return f
}

// String lists the facts in f as "type;size;modify;perm;", the form of the
// OPTS MLST reply. The empty set is "".
func (f factSet) String() string {
	var b strings.Builder
	for _, fn := range factNames {
		if f&fn.f != 0 {
			b.WriteString(fn.name)
			b.WriteByte(';')
		}
	}
	return b.String()
}

// featMLST is the text of FEAT's MLST line: every supported fact, each
// enabled one marked with '*' (RFC 3659 7.8).
func featMLST(enabled factSet) string {
	var b strings.Builder
	b.WriteString("MLST ")
	for _, fn := range factNames {
		b.WriteString(fn.name)
		if enabled&fn.f != 0 {
			b.WriteByte('*')
		}
		b.WriteByte(';')
	}
	return b.String()
}

// mlsxLine renders one RFC 3659 entry, "type=file;size=1234;modify=
// 20240102150405;perm=adfrw; name", without CRLF and without the leading
// space an MLST reply puts before it. typ is the type fact's value ("file",
// "dir", "cdir", "pdir"); "" picks file or dir from e. size is given for
// files only, modify only when the time is known, and perm says what perms
// allow on the entry (RFC 3659 7.5.5). With no facts the line is " name".
func mlsxLine(e storage.Entry, typ string, facts factSet, perms auth.Permission) string {
	var b strings.Builder
	if facts&factType != 0 {
		if typ == "" {
			typ = "file"
			if e.IsDir {
				typ = "dir"
			}
		}
		b.WriteString("type=" + typ + ";")
	}
	if facts&factSize != 0 && !e.IsDir {
		b.WriteString("size=" + strconv.FormatInt(e.Size, 10) + ";")
	}
	if facts&factModify != 0 && !e.ModTime.IsZero() {
		b.WriteString("modify=" + formatMDTM(e.ModTime) + ";")
	}
	if facts&factPerm != 0 {
		b.WriteString("perm=" + permFact(e.IsDir, perms) + ";")
	}
	b.WriteByte(' ')
	b.WriteString(e.Name)
	return b.String()
}

// permFact is the value of the perm fact (RFC 3659 7.5.5), letters in
// alphabetical order.
func permFact(dir bool, p auth.Permission) string {
	type letter struct {
		c  byte
		ok bool
	}
	var letters []letter
	if dir {
		letters = []letter{
			{'c', p.Has(auth.PermWrite)},  // STOR/APPE/STOU inside
			{'d', p.Has(auth.PermDelete)}, // RMD
			{'e', true},                   // CWD
			{'f', p.Has(auth.PermRename)}, // RNFR
			{'l', p.Has(auth.PermList)},   // LIST, NLST, MLSD
			{'m', p.Has(auth.PermMkdir)},  // MKD inside
			{'p', p.Has(auth.PermDelete)}, // DELE/RMD inside
		}
	} else {
		letters = []letter{
			{'a', p.Has(auth.PermWrite)},                      // APPE
			{'d', p.Has(auth.PermDelete)},                     // DELE
			{'f', p.Has(auth.PermRename)},                     // RNFR
			{'r', p.Has(auth.PermRead)},                       // RETR
			{'w', p.Has(auth.PermWrite | auth.PermOverwrite)}, // STOR over it
		}
	}
	b := make([]byte, 0, len(letters))
	for _, l := range letters {
		if l.ok {
			b = append(b, l.c)
		}
	}
	return string(b)
}

// mdtmLayout is RFC 3659's time-val without the fraction.
const mdtmLayout = "20060102150405"

// formatMDTM renders t as RFC 3659's YYYYMMDDHHMMSS, in UTC (MDTM, MFMT,
// the modify fact).
func formatMDTM(t time.Time) string { return t.UTC().Format(mdtmLayout) }

var errBadTime = errors.New("want YYYYMMDDHHMMSS[.sss] (UTC)")

// parseMDTM reads RFC 3659's time-val, YYYYMMDDHHMMSS with an optional
// fraction of a second (digits beyond nanoseconds are ignored), in UTC.
// Anything else, an impossible date (month 13, February 30) or a leap
// second included, is an error.
func parseMDTM(s string) (time.Time, error) {
	base, frac, hasFrac := strings.Cut(s, ".")
	if len(base) != len(mdtmLayout) || !allDigits(base) || (hasFrac && (frac == "" || !allDigits(frac))) {
		return time.Time{}, errBadTime
	}
	t, err := time.Parse(mdtmLayout, base) // checks ranges, days per month
	if err != nil {
		return time.Time{}, errBadTime
	}
	if hasFrac {
		frac = (frac + "000000000")[:9]
		ns, _ := strconv.Atoi(frac) // nine digits: cannot fail
		t = t.Add(time.Duration(ns))
	}
	if t.Before(minFileTime) || t.After(maxFileTime) {
		return time.Time{}, errBadTime
	}
	return t, nil
}

// minFileTime and maxFileTime bound the times MFMT and SITE UTIME accept:
// those a file's time in nanoseconds can hold (years 1678 to 2262). A
// local file set to the year 9999 kept a time 8,000 years off, while the
// reply said it was set.
var (
	minFileTime = time.Unix(0, math.MinInt64).UTC()
	maxFileTime = time.Unix(0, math.MaxInt64).UTC()
)

// allDigits reports whether s is non-empty and all ASCII digits.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// listable reports whether a name can appear in a listing: valid UTF-8
// without control characters. A local file named "a\r\nb" would otherwise
// forge a line of a listing, or of a STAT reply on the control connection;
// such names cannot be addressed over FTP anyway, so they are left out.
func listable(name string) bool {
	return name != "" && storage.Printable(name)
}

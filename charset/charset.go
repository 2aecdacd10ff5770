// Package charset converts file names between UTF-8, which bucketftp stores,
// and the legacy character set a client speaks (GBK, Big5, Shift_JIS, ...),
// with golang.org/x/text's encodings.
package charset

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// UTF8 is the default: names pass unchanged.
const UTF8 = "utf-8"

// encodings are the character sets a users file or the server may name.
// ISO-8859-1 is the real Latin-1 (not Windows-1252, as HTML labels treat
// it), so each byte is the code point of the same value.
var encodings = map[string]encoding.Encoding{
	"gbk":          simplifiedchinese.GBK,
	"gb18030":      simplifiedchinese.GB18030,
	"big5":         traditionalchinese.Big5,
	"shift_jis":    japanese.ShiftJIS,
	"euc-jp":       japanese.EUCJP,
	"euc-kr":       korean.EUCKR,
	"windows-1252": charmap.Windows1252,
	"iso-8859-1":   charmap.ISO8859_1,
	"iso-8859-15":  charmap.ISO8859_15,
	"windows-1251": charmap.Windows1251,
	"koi8-r":       charmap.KOI8R,
}

// aliases are other names clients' documentation uses.
var aliases = map[string]string{
	"utf8": UTF8, "gb2312": "gbk", "cp936": "gbk", "sjis": "shift_jis", "shift-jis": "shift_jis",
	"cp932": "shift_jis", "cp949": "euc-kr", "cp1252": "windows-1252", "latin1": "iso-8859-1",
	"latin-1": "iso-8859-1", "cp1251": "windows-1251", "koi8r": "koi8-r",
}

// Names lists the character sets by their canonical names, UTF-8 first.
func Names() []string {
	names := make([]string, 0, len(encodings))
	for n := range encodings {
		names = append(names, n)
	}
	slices.Sort(names)
	return append([]string{UTF8}, names...)
}

// Canonical returns the canonical name of a character set, or an error
// naming the supported ones. "" is UTF-8.
func Canonical(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[n]; ok {
		n = a
	}
	if n == "" || n == UTF8 {
		return UTF8, nil
	}
	if _, ok := encodings[n]; !ok {
		return "", fmt.Errorf("unknown character set %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return n, nil
}

// Charset converts names for one character set. The zero value, and the
// one for UTF-8, passes names unchanged.
type Charset struct {
	name string
	enc  encoding.Encoding // nil for UTF-8
}

// Get returns the Charset of a name Canonical accepts.
func Get(name string) (Charset, error) {
	n, err := Canonical(name)
	if err != nil {
		return Charset{}, err
	}
	return Charset{name: n, enc: encodings[n]}, nil
}

// Name is the canonical name.
func (c Charset) Name() string {
	if c.enc == nil {
		return UTF8
	}
	return c.name
}

// IsUTF8 reports whether names pass unchanged.
func (c Charset) IsUTF8() bool { return c.enc == nil }

// ErrNotRepresentable is a name that has no form in the other character set.
var ErrNotRepresentable = errors.New("name not representable in the character set")

// Decode turns bytes a client sent into UTF-8. Bytes that are not valid in
// the character set are an error, not U+FFFD: the name would not be the
// one the client meant.
func (c Charset) Decode(s string) (string, error) {
	if c.enc == nil || isASCII(s) {
		return s, nil
	}
	out, err := c.enc.NewDecoder().String(s)
	if err != nil || strings.ContainsRune(out, utf8.RuneError) {
		return "", ErrNotRepresentable
	}
	return out, nil
}

// Encode turns a UTF-8 name into the character set; a name with a
// character the set lacks is an error.
func (c Charset) Encode(s string) (string, error) {
	if c.enc == nil || isASCII(s) {
		return s, nil
	}
	out, err := c.enc.NewEncoder().String(s)
	if err != nil {
		return "", ErrNotRepresentable
	}
	return out, nil
}

// EncodeLossy is Encode with '?' for each character the set lacks, for
// reply text, which must be sent whatever it holds.
func (c Charset) EncodeLossy(s string) string {
	if out, err := c.Encode(s); err == nil {
		return out
	}
	var b strings.Builder
	enc := c.enc.NewEncoder()
	for _, r := range s {
		out, err := enc.String(string(r))
		if err != nil {
			out = "?"
		}
		b.WriteString(out)
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

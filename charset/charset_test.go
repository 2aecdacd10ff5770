package charset

import "testing"

func TestRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		set, raw, utf8 string
	}{
		{"gbk", "\xd6\xd0\xce\xc4.txt", "中文.txt"},
		{"gb18030", "\xd6\xd0\xce\xc4.txt", "中文.txt"},
		{"big5", "\xa4\xa4\xa4\xe5.txt", "中文.txt"},
		{"shift_jis", "\x93\xfa\x96\x7b.csv", "日本.csv"},
		{"euc-jp", "\xc6\xfc\xcb\xdc.csv", "日本.csv"},
		{"euc-kr", "\xc7\xd1\xb1\xb9.txt", "한국.txt"},
		{"iso-8859-1", "caf\xe9.csv", "café.csv"},
		{"latin1", "caf\xe9.csv", "café.csv"},
		{"windows-1252", "\x80uro.txt", "€uro.txt"},
		{"koi8-r", "\xc6\xc1\xca\xcc.txt", "файл.txt"},
		{"windows-1251", "\xf4\xe0\xe9\xeb.txt", "файл.txt"},
		{"utf-8", "中文.txt", "中文.txt"},
	} {
		c, err := Get(tc.set)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(tc.raw)
		if err != nil || got != tc.utf8 {
			t.Errorf("%s: Decode(%q) = %q, %v; want %q", tc.set, tc.raw, got, err, tc.utf8)
		}
		back, err := c.Encode(tc.utf8)
		if err != nil || back != tc.raw {
			t.Errorf("%s: Encode(%q) = %q, %v; want %q", tc.set, tc.utf8, back, err, tc.raw)
		}
	}
}

func TestRefusals(t *testing.T) {
	gbk, _ := Get("gbk")
	if _, err := gbk.Encode("café ☃"); err == nil {
		t.Error("GBK encoded a snowman")
	}
	if got := gbk.EncodeLossy("a☃b"); got != "a?b" {
		t.Errorf("EncodeLossy = %q", got)
	}
	if _, err := gbk.Decode("\xd6"); err == nil {
		t.Error("GBK decoded a lone lead byte")
	}
	sjis, _ := Get("shift_jis")
	if _, err := sjis.Decode("\xff\xff"); err == nil {
		t.Error("Shift_JIS decoded invalid bytes")
	}
	latin1, _ := Get("iso-8859-1")
	if _, err := latin1.Encode("中"); err == nil {
		t.Error("Latin-1 encoded a CJK character")
	}
	if _, err := Get("ebcdic"); err == nil {
		t.Error("unknown set accepted")
	}
	if c, _ := Get(""); !c.IsUTF8() || c.Name() != UTF8 {
		t.Error("empty name is not UTF-8")
	}
}

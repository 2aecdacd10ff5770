package ftp

import (
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/storage"
)

func TestLsLine(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)
	tokyo := time.FixedZone("JST", 9*3600)
	cases := []struct {
		name string
		e    storage.Entry
		want string
	}{
		{"recent file",
			storage.Entry{Name: "report.pdf", Size: 1234, ModTime: time.Date(2024, 6, 1, 9, 5, 0, 0, time.UTC)},
			"-rw-r--r-- 1 ftp ftp         1234 Jun  1 09:05 report.pdf"},
		{"two-digit day",
			storage.Entry{Name: "a", Size: 1, ModTime: time.Date(2024, 5, 25, 23, 59, 59, 0, time.UTC)},
			"-rw-r--r-- 1 ftp ftp            1 May 25 23:59 a"},
		{"old directory",
			storage.Entry{Name: "photos", IsDir: true, ModTime: time.Date(2023, 1, 2, 15, 4, 0, 0, time.UTC)},
			"drwxr-xr-x 1 ftp ftp            0 Jan  2  2023 photos"},
		{"five months old shows the time",
			storage.Entry{Name: "a", ModTime: time.Date(2024, 1, 16, 12, 0, 0, 0, time.UTC)},
			"-rw-r--r-- 1 ftp ftp            0 Jan 16 12:00 a"},
		{"seven months old shows the year",
			storage.Entry{Name: "a", ModTime: time.Date(2023, 11, 15, 12, 0, 0, 0, time.UTC)},
			"-rw-r--r-- 1 ftp ftp            0 Nov 15  2023 a"},
		{"half an hour ahead shows the time",
			storage.Entry{Name: "a", ModTime: now.Add(30 * time.Minute)},
			"-rw-r--r-- 1 ftp ftp            0 Jun 15 12:30 a"},
		{"two hours ahead shows the year",
			storage.Entry{Name: "a", ModTime: now.Add(2 * time.Hour)},
			"-rw-r--r-- 1 ftp ftp            0 Jun 15  2024 a"},
		{"unknown time is the epoch",
			storage.Entry{Name: "prefix", IsDir: true},
			"drwxr-xr-x 1 ftp ftp            0 Jan  1  1970 prefix"},
		{"shown in UTC",
			storage.Entry{Name: "a", ModTime: time.Date(2024, 6, 1, 3, 0, 0, 0, tokyo)},
			"-rw-r--r-- 1 ftp ftp            0 May 31 18:00 a"},
		{"size wider than the column",
			storage.Entry{Name: "big", Size: 123456789012345, ModTime: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)},
			"-rw-r--r-- 1 ftp ftp 123456789012345 Jun  1 00:00 big"},
		{"name as stored",
			storage.Entry{Name: " my résumé;v2.txt ", Size: 7, ModTime: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)},
			"-rw-r--r-- 1 ftp ftp            7 Jun  1 00:00  my résumé;v2.txt "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := lsLine(tc.e, now); got != tc.want {
				t.Errorf("lsLine =\n%q, want\n%q", got, tc.want)
			}
		})
	}
}

func TestParseFacts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want factSet
	}{
		{"empty turns all off", "", 0},
		{"all", "type;size;modify;perm;", defaultFacts},
		{"some", "type;size;", factType | factSize},
		{"case-insensitive", "TYPE;Size;MoDiFy;", factType | factSize | factModify},
		{"no final semicolon", "type;perm", factType | factPerm},
		{"unknown ignored", "type;unique;unix.mode;size;", factType | factSize},
		{"spaces around names", " type ; size ;", factType | factSize},
		{"only unknown", "media-type;", 0},
		{"only separators", ";;;", 0},
		{"repeated", "size;size;", factSize},
		{"no prefix matching", "typ;sizes;", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := parseFacts(tc.in); got != tc.want {
				t.Errorf("parseFacts(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFactSetString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   factSet
		want string
	}{
		{"none", 0, ""},
		{"default", defaultFacts, "type;size;modify;perm;"},
		{"fixed order", factPerm | factType, "type;perm;"},
		{"one", factModify, "modify;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.in.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
	for f := range defaultFacts + 1 {
		if back := parseFacts(f.String()); back != f {
			t.Errorf("parseFacts(%q) = %q, want the set back", f.String(), back)
		}
	}
}

func TestFeatMLST(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   factSet
		want string
	}{
		{"default", defaultFacts, "MLST type*;size*;modify*;perm*;"},
		{"none", 0, "MLST type;size;modify;perm;"},
		{"some", factSize | factPerm, "MLST type;size*;modify;perm*;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := featMLST(tc.in); got != tc.want {
				t.Errorf("featMLST(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMlsxLine(t *testing.T) {
	t.Parallel()
	mod := time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)
	file := storage.Entry{Name: "report.pdf", Size: 1234, ModTime: mod}
	dir := storage.Entry{Name: "photos", IsDir: true, ModTime: mod}
	cases := []struct {
		name  string
		e     storage.Entry
		typ   string
		facts factSet
		perms auth.Permission
		want  string
	}{
		{"file, all facts", file, "file", defaultFacts, auth.PermAll,
			"type=file;size=1234;modify=20240102150405;perm=adfrw; report.pdf"},
		{"dir, all facts", dir, "dir", defaultFacts, auth.PermAll,
			"type=dir;modify=20240102150405;perm=cdeflmp; photos"},
		{"current dir", storage.Entry{Name: ".", IsDir: true, ModTime: mod}, "cdir", defaultFacts, auth.PermAll,
			"type=cdir;modify=20240102150405;perm=cdeflmp; ."},
		{"parent dir", storage.Entry{Name: "..", IsDir: true}, "pdir", factType, auth.PermAll,
			"type=pdir; .."},
		{"type from the entry", dir, "", factType, 0, "type=dir; photos"},
		{"type from the entry, file", file, "", factType, 0, "type=file; report.pdf"},
		{"unknown time leaves modify out", storage.Entry{Name: "p", IsDir: true}, "dir", defaultFacts, auth.PermList,
			"type=dir;perm=el; p"},
		{"empty file has size 0", storage.Entry{Name: "e", ModTime: mod}, "file", factSize, 0, "size=0; e"},
		{"no facts", file, "file", 0, auth.PermAll, " report.pdf"},
		{"size not given for dirs", dir, "dir", factSize, auth.PermAll, " photos"},
		{"modify in UTC", storage.Entry{Name: "a", ModTime: time.Date(2024, 1, 2, 0, 30, 0, 0, time.FixedZone("X", 3600))},
			"file", factModify, 0, "modify=20240101233000; a"},
		{"full path name as given", storage.Entry{Name: "/a b/c;d.txt", Size: 3, ModTime: mod}, "file", factType | factSize, 0,
			"type=file;size=3; /a b/c;d.txt"},

		{"file, read only", file, "file", factPerm, auth.PermList | auth.PermRead, "perm=r; report.pdf"},
		{"file, no permissions", file, "file", factPerm, 0, "perm=; report.pdf"},
		{"file, write without overwrite", file, "file", factPerm, auth.PermWrite, "perm=a; report.pdf"},
		{"file, overwrite without write", file, "file", factPerm, auth.PermOverwrite, "perm=; report.pdf"},
		{"file, write and overwrite", file, "file", factPerm, auth.PermWrite | auth.PermOverwrite, "perm=aw; report.pdf"},
		{"file, delete", file, "file", factPerm, auth.PermDelete, "perm=d; report.pdf"},
		{"file, rename", file, "file", factPerm, auth.PermRename, "perm=f; report.pdf"},
		{"file, mkdir means nothing", file, "file", factPerm, auth.PermMkdir | auth.PermList, "perm=; report.pdf"},
		{"dir, no permissions", dir, "dir", factPerm, 0, "perm=e; photos"},
		{"dir, list", dir, "dir", factPerm, auth.PermList, "perm=el; photos"},
		{"dir, write", dir, "dir", factPerm, auth.PermWrite, "perm=ce; photos"},
		{"dir, mkdir", dir, "dir", factPerm, auth.PermMkdir, "perm=em; photos"},
		{"dir, delete", dir, "dir", factPerm, auth.PermDelete, "perm=dep; photos"},
		{"dir, rename", dir, "dir", factPerm, auth.PermRename, "perm=ef; photos"},
		{"dir, read means nothing", dir, "dir", factPerm, auth.PermRead | auth.PermOverwrite, "perm=e; photos"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := mlsxLine(tc.e, tc.typ, tc.facts, tc.perms); got != tc.want {
				t.Errorf("mlsxLine =\n%q, want\n%q", got, tc.want)
			}
		})
	}
}

func TestFormatMDTM(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc", time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC), "20240102150405"},
		{"converted to utc", time.Date(2024, 1, 1, 0, 30, 0, 0, time.FixedZone("X", 3600)), "20231231233000"},
		{"fraction dropped", time.Date(2024, 1, 2, 15, 4, 5, 999_999_999, time.UTC), "20240102150405"},
		{"epoch", time.Unix(0, 0), "19700101000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := formatMDTM(tc.in); got != tc.want {
				t.Errorf("formatMDTM(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMDTM(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{name: "plain", in: "20240102150405", want: time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)},
		{name: "milliseconds", in: "20240102150405.123", want: time.Date(2024, 1, 2, 15, 4, 5, 123e6, time.UTC)},
		{name: "one digit fraction", in: "20240102150405.5", want: time.Date(2024, 1, 2, 15, 4, 5, 5e8, time.UTC)},
		{name: "nanoseconds", in: "20240102150405.000000001", want: time.Date(2024, 1, 2, 15, 4, 5, 1, time.UTC)},
		{name: "digits beyond nanoseconds ignored", in: "20240102150405.1234567899", want: time.Date(2024, 1, 2, 15, 4, 5, 123456789, time.UTC)},
		{name: "leap day", in: "20240229000000", want: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{name: "end of year", in: "19991231235959", want: time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)},

		{name: "empty", in: "", wantErr: true},
		{name: "13 digits", in: "2024010215040", wantErr: true},
		{name: "15 digits", in: "202401021504050", wantErr: true},
		{name: "month 13", in: "20241302150405", wantErr: true},
		{name: "month 0", in: "20240002150405", wantErr: true},
		{name: "day 32", in: "20240132150405", wantErr: true},
		{name: "February 30", in: "20240230120000", wantErr: true},
		{name: "February 29 in a common year", in: "20230229120000", wantErr: true},
		{name: "hour 24", in: "20240102240000", wantErr: true},
		{name: "minute 60", in: "20240102156000", wantErr: true},
		{name: "second 60", in: "20240102150460", wantErr: true},
		{name: "separators", in: "2024-01-02 15:04:05", wantErr: true},
		{name: "sign", in: "+0240102150405", wantErr: true},
		{name: "negative", in: "-0240102150405", wantErr: true},
		{name: "leading space", in: " 20240102150405", wantErr: true},
		{name: "trailing space", in: "20240102150405 ", wantErr: true},
		{name: "zone letter", in: "20240102150405Z", wantErr: true},
		{name: "dot without digits", in: "20240102150405.", wantErr: true},
		{name: "bad fraction", in: "20240102150405.12a", wantErr: true},
		{name: "two dots", in: "20240102150405.1.2", wantErr: true},
		{name: "non-ASCII digits", in: "２０２４０１０２１５０４０５", wantErr: true},
		{name: "year 9999, past what a file's time holds", in: "99991231235959", wantErr: true},
		{name: "year 2500", in: "25000101000000", wantErr: true},
		{name: "year 1600", in: "16000101000000", wantErr: true},
		{name: "year 2262, before the end", in: "22620101000000", want: time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "year 1700", in: "17000101000000", want: time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseMDTM(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseMDTM(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Fatalf("parseMDTM(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if back := formatMDTM(got); back != tc.in[:14] {
				t.Errorf("formatMDTM(parseMDTM(%q)) = %q", tc.in, back)
			}
		})
	}
}

func TestListable(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"report.csv":      true,
		"ünïcödé 名前.txt":  true,
		"with space":      true,
		"":                false,
		"a\r\nb":          false,
		"tab\there":       false,
		"del\x7f":         false,
		"\xff\xfe broken": false,
	} {
		if got := listable(name); got != want {
			t.Errorf("listable(%q) = %v, want %v", name, got, want)
		}
	}
}

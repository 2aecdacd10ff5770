package ftptest

import (
	"strings"
	"testing"
)

// step is one command and the exact reply code it must get.
type step struct {
	cmd  string
	code int
	has  string // the reply text must contain this, when set
}

// alsoAccepted is a second acceptable code where backends rightly differ:
// S3 stores refuse some names (553) that a disk takes and does not find (550).
var alsoAccepted = map[string]int{`CWD ..\..`: 553}

// TestReplyCodes walks command sequences a client could send and checks
// every reply code, RFC 959 section 4.2 and 5.4.
func testReplyCodes(t *testing.T, nb newBackend) {
	t.Parallel()
	cases := []struct {
		name  string
		user  string // "" = not logged in
		steps []step
	}{
		{"unknown verb before login", "", []step{{"FOO", 500, ""}, {"NOOP", 200, ""}}},
		{"commands need login", "", []step{{"PWD", 530, ""}, {"LIST", 530, ""}, {"RETR x", 530, ""}, {"CWD /", 530, ""}, {"STAT /", 530, ""}}},
		{"PASS without USER", "", []step{{"PASS x", 503, ""}}},
		{"unknown user gets 331 then 530", "", []step{{"USER nobody", 331, ""}, {"PASS whatever", 530, ""}}},
		{"wrong password", "", []step{{"USER alice", 331, ""}, {"PASS wrong", 530, ""}, {"USER alice", 331, ""}, {"PASS alice-pw", 230, ""}}},
		{"address outside allow list", "", []step{{"USER faraway", 331, ""}, {"PASS faraway-pw", 530, ""}}},
		{"ACCT before and after login", "", []step{{"ACCT x", 503, ""}, {"USER alice", 331, ""}, {"PASS alice-pw", 230, ""}, {"ACCT x", 202, ""}}},
		{"public commands before login", "", []step{{"SYST", 215, "UNIX Type: L8"}, {"FEAT", 211, "EPSV"}, {"HELP", 214, "RETR"}, {"STAT", 211, "not logged in"}, {"TYPE I", 200, ""}}},
		{"REIN logs out", "alice", []step{{"PWD", 257, ""}, {"REIN", 220, ""}, {"PWD", 530, ""}}},
		{"USER while logged in changes user", "alice", []step{{"USER ro", 331, ""}, {"PWD", 530, ""}, {"PASS ro-pw", 230, ""}, {"STOR x", 550, ""}}},
		{"SMNT is not implemented", "alice", []step{{"SMNT /x", 502, ""}}},
		{"missing argument", "alice", []step{{"RETR", 501, ""}, {"CWD", 501, ""}, {"MKD", 501, ""}, {"USER", 501, ""}}},
		{"TYPE", "alice", []step{{"TYPE I", 200, "Binary"}, {"TYPE A", 200, "ASCII"}, {"TYPE A N", 200, ""}, {"TYPE L 8", 200, ""}, {"TYPE E", 504, ""}, {"TYPE A T", 504, ""}, {"TYPE L 7", 504, ""}, {"TYPE X", 501, ""}, {"TYPE", 501, ""}}},
		{"STRU and MODE", "alice", []step{{"STRU F", 200, ""}, {"STRU R", 504, ""}, {"STRU P", 504, ""}, {"STRU X", 501, ""}, {"MODE S", 200, ""}, {"MODE B", 504, ""}, {"MODE C", 504, ""}, {"MODE Z", 501, ""}}},
		{"directories", "alice", []step{
			{"PWD", 257, `"/" is the current directory`},
			{"MKD sub", 257, `"/sub" created`},
			{"MKD sub", 550, ""},
			{"DELE sub", 550, "Is a directory"},
			{"CWD sub", 250, ""},
			{"XPWD", 257, `"/sub"`},
			{"XMKD deeper", 257, `"/sub/deeper"`},
			{"CDUP", 250, ""},
			{"XCWD sub/deeper", 250, ""},
			{"XCUP", 250, ""},
			{"RMD /sub", 550, "not empty"},
			{"XRMD deeper", 250, ""},
			{"CWD /", 250, ""},
			{"RMD sub", 250, ""},
			{"CWD sub", 550, ""},
			{"MKD missing/child", 550, ""},
			{`MKD say "hi"`, 257, `"/say ""hi""" created`},
			{"RMD /", 550, ""},
		}},
		{"cannot climb out of home", "alice", []step{{"CWD ../../..", 250, ""}, {"PWD", 257, `"/"`}, {`CWD ..\..`, 550, ""}, {"CWD %2e%2e", 550, ""}}},
		{"bad names get 553", "alice", []step{{"MKD a\x01b", 553, ""}, {"MKD \xc3\x28", 553, ""}, {"MKD \xff\xff\xfe", 553, ""}, {"MKD " + strings.Repeat("n", 256), 553, ""}}},
		{"RNFR/RNTO sequence", "alice", []step{
			{"RNTO x", 503, ""},
			{"RNFR missing", 550, ""},
			{"MKD d", 257, ""},
			{"RNFR d", 350, ""},
			{"NOOP", 200, ""},
			{"RNTO e", 503, ""},
			{"RNFR d", 350, ""},
			{"RNTO d/inside", 550, ""},
			{"RNFR d", 350, ""},
			{"RNTO e", 250, ""},
			{"CWD e", 250, ""},
			{"RNFR /", 550, ""},
		}},
		{"info commands", "alice", []step{
			{"NOOP", 200, ""},
			{"HELP RETR", 214, "RETR <path>"},
			{"HELP FOO", 501, ""},
			{"OPTS UTF8 ON", 200, ""},
			{"OPTS MLST type;size;", 200, "MLST OPTS type;size;"},
			{"OPTS FOO", 501, ""},
			{"SITE HELP", 214, ""},
			{"SITE CHMOD 644 x", 202, ""},
			{"SITE CHMOD", 501, ""},
			{"SITE CHMOD 644", 501, ""},
			{"SITE CHMOD zzz x", 501, ""},
			{"SITE CHMOD 99 x", 501, ""},
			{"HELP", 214, "SMNT*"},
			{"SITE FOO", 500, ""},
			{"ALLO 100", 202, ""},
			{"ALLO 100 R 10", 202, ""},
			{"ALLO x", 501, ""},
			{"ABOR", 225, ""},
			{"STAT /", 212, "Status of /"},
			{"STAT /nope", 550, ""},
			{"MLST /", 250, "type=dir"},
			{"MLST /nope", 550, ""},
			{"SIZE /nope", 550, ""},
			{"MDTM /nope", 550, ""},
			{"MDTM /", 550, ""},
			{"MFMT 20200101000000 /nope", 550, ""},
			{"MFMT 2020 /x", 501, ""},
			{"TYPE I", 200, ""},
			{"REST abc", 501, ""},
			{"REST -1", 501, ""},
			{"REST 10", 350, "Restarting at 10"},
			{"REST 99999999999999999999999", 501, "out of range"},
		}},
		{"data commands need a data connection", "alice", []step{{"RETR x", 425, ""}, {"STOR x", 425, ""}, {"LIST", 425, ""}, {"NLST", 425, ""}, {"MLSD", 425, ""}, {"APPE x", 425, ""}, {"STOU", 425, ""}}},
		{"active mode bounce protection", "alice", []step{
			{"PORT 127,0,0,1,4,0", 200, ""},
			{"PORT 127,0,0,1,0,21", 504, ""},
			{"PORT 192,0,2,1,4,0", 504, ""},
			{"PORT 1,2,3", 501, ""},
			{"EPRT |1|127.0.0.1|2000|", 200, ""},
			{"EPRT |1|192.0.2.1|2000|", 504, ""},
			{"EPRT |1|127.0.0.1|80|", 504, ""},
			{"EPRT |3|127.0.0.1|2000|", 522, "use (1)"},
			{"EPRT |2|::1|2000|", 522, "use (1)"},
			{"EPRT garbage", 501, ""},
		}},
		{"EPSV", "alice", []step{
			{"EPSV 2", 522, "(1)"},
			{"EPSV 7", 522, ""},
			{"EPSV x", 501, ""},
			{"EPSV 1", 229, "(|||"},
			{"EPSV", 229, "(|||"},
			{"PASV", 227, "Entering Passive Mode (127,0,0,1,"},
			{"EPSV ALL", 200, ""},
			{"PASV", 503, ""},
			{"PORT 127,0,0,1,4,0", 503, ""},
			{"EPRT |1|127.0.0.1|2000|", 503, ""},
			{"EPSV", 229, ""},
		}},
		{"write-only user", "wo", []step{{"LIST", 550, ""}, {"NLST", 550, ""}, {"MLSD", 550, ""}, {"RETR x", 550, ""}, {"MKD d", 550, ""}, {"DELE x", 550, ""}, {"RNFR x", 550, ""}, {"SIZE x", 550, ""}, {"STAT /", 550, ""}, {"PWD", 257, ""}}},
		{"read-only user", "ro", []step{{"MKD d", 550, ""}, {"DELE x", 550, ""}, {"STOR x", 550, ""}, {"APPE x", 550, ""}, {"MFMT 20200101000000 x", 550, ""}}},
		{"quota user ALLO", "quota", []step{{"ALLO 999", 202, ""}, {"ALLO 1001", 552, ""}}},
		{"QUIT", "alice", []step{{"QUIT", 221, ""}}},
	}
	e := startServer(t, nb(t))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c *ctl
			ee := *e
			ee.t = t
			if tc.user == "" {
				c = ee.dial()
			} else {
				c = ee.login(tc.user)
			}
			for _, s := range tc.steps {
				if s.code == 425 || strings.HasPrefix(s.cmd, "RETR") || strings.HasPrefix(s.cmd, "STOR") ||
					strings.HasPrefix(s.cmd, "APPE") || strings.HasPrefix(s.cmd, "LIST") || strings.HasPrefix(s.cmd, "NLST") || strings.HasPrefix(s.cmd, "MLSD") {
					if s.code != 425 && s.code != 530 && tc.user != "" {
						c.pasv()
					}
				}
				code, text := c.cmd(s.cmd)
				if (code != s.code && code != alsoAccepted[s.cmd]) || !strings.Contains(text, s.has) {
					t.Fatalf("%q: got %d %q, want %d containing %q", s.cmd, code, text, s.code, s.has)
				}
			}
		})
	}
}

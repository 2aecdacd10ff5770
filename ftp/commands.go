package ftp

import (
	"context"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/storage"
)

type argKind int

const (
	argOptional argKind = iota
	argRequired
)

// command is one verb's entry in the table: its handler and what the
// dispatcher checks before calling it. A nil fn means known but not
// implemented (502).
type command struct {
	fn         func(s *session, ctx context.Context, arg string) error
	public     bool            // allowed before login
	publicBare bool            // allowed before login without an argument (STAT)
	arg        argKind         // argRequired: 501 when missing
	perm       auth.Permission // checked by the dispatcher (the scoped store checks again)
	xfer       bool            // a transfer command: needs a prepared data connection (425), gives it up on failure
	inXfer     bool            // runs at once during a transfer instead of waiting for it
	takes      takes           // what it takes of REST and RNFR before it
	help       string          // syntax shown by HELP
}

// takes names what a command consumes of the pending REST and RNFR.
type takes uint8

const (
	takesREST takes = 1 << iota // the offset of a REST before it
	takesRNFR                   // the path of an RNFR right before it
)

// commands is THE command table, one line per verb.
var commands map[string]command

func init() {
	commands = map[string]command{
		// Access control (RFC 959 4.1.1)
		"USER": {fn: (*session).handleUSER, public: true, arg: argRequired, help: "USER <username>"},
		"PASS": {fn: (*session).handlePASS, public: true, help: "PASS <password>"},
		"ACCT": {fn: (*session).handleACCT, public: true, arg: argRequired, help: "ACCT <account>"},
		"CWD":  {fn: (*session).handleCWD, arg: argRequired, help: "CWD <path>"},
		"XCWD": {fn: (*session).handleCWD, arg: argRequired, help: "XCWD <path>"},
		"CDUP": {fn: (*session).handleCDUP, help: "CDUP"},
		"XCUP": {fn: (*session).handleCDUP, help: "XCUP"},
		"SMNT": {arg: argRequired, help: "SMNT <path> (not implemented)"},
		"REIN": {fn: (*session).handleREIN, public: true, help: "REIN"},
		"QUIT": {fn: (*session).handleQUIT, public: true, help: "QUIT"},

		// Transfer parameters (RFC 959 4.1.2, RFC 2428)
		"PORT": {fn: (*session).handlePORT, arg: argRequired, help: "PORT <h1,h2,h3,h4,p1,p2>"},
		"EPRT": {fn: (*session).handleEPRT, arg: argRequired, help: "EPRT |<af>|<addr>|<port>|"},
		"PASV": {fn: (*session).handlePASV, help: "PASV"},
		"EPSV": {fn: (*session).handleEPSV, help: "EPSV [<af>|ALL]"},
		"TYPE": {fn: (*session).handleTYPE, public: true, arg: argRequired, help: "TYPE <A|I|L 8> [N]"},
		"STRU": {fn: (*session).handleSTRU, public: true, arg: argRequired, help: "STRU F"},
		"MODE": {fn: (*session).handleMODE, public: true, arg: argRequired, help: "MODE S"},

		// Service commands (RFC 959 4.1.3)
		"RETR": {fn: (*session).handleRETR, arg: argRequired, perm: auth.PermRead, xfer: true, takes: takesREST, help: "RETR <path>"},
		"STOR": {fn: (*session).handleSTOR, arg: argRequired, perm: auth.PermWrite, xfer: true, takes: takesREST, help: "STOR <path>"},
		"STOU": {fn: (*session).handleSTOU, perm: auth.PermWrite, xfer: true, takes: takesREST, help: "STOU"},
		"APPE": {fn: (*session).handleAPPE, arg: argRequired, perm: auth.PermWrite, xfer: true, takes: takesREST, help: "APPE <path>"},
		"ALLO": {fn: (*session).handleALLO, arg: argRequired, help: "ALLO <bytes> [R <record size>]"},
		"REST": {fn: (*session).handleREST, arg: argRequired, help: "REST <offset>"},
		"RNFR": {fn: (*session).handleRNFR, arg: argRequired, help: "RNFR <path>"}, // rename, or write for the login's own upload
		"RNTO": {fn: (*session).handleRNTO, arg: argRequired, takes: takesRNFR, help: "RNTO <path>"},
		"ABOR": {fn: (*session).handleABOR, inXfer: true, help: "ABOR"},
		"DELE": {fn: (*session).handleDELE, arg: argRequired, perm: auth.PermDelete, help: "DELE <path>"},
		"RMD":  {fn: (*session).handleRMD, arg: argRequired, perm: auth.PermDelete, help: "RMD <path>"},
		"XRMD": {fn: (*session).handleRMD, arg: argRequired, perm: auth.PermDelete, help: "XRMD <path>"},
		"MKD":  {fn: (*session).handleMKD, arg: argRequired, perm: auth.PermMkdir, help: "MKD <path>"},
		"XMKD": {fn: (*session).handleMKD, arg: argRequired, perm: auth.PermMkdir, help: "XMKD <path>"},
		"PWD":  {fn: (*session).handlePWD, help: "PWD"},
		"XPWD": {fn: (*session).handlePWD, help: "XPWD"},
		"LIST": {fn: (*session).handleLIST, perm: auth.PermList, xfer: true, help: "LIST [<path>]"},
		"NLST": {fn: (*session).handleNLST, perm: auth.PermList, xfer: true, help: "NLST [<path>]"},
		"SITE": {fn: (*session).handleSITE, arg: argRequired, help: "SITE <HELP|CHECKSUM|CHMOD|UMASK|UTIME>"},
		"SYST": {fn: (*session).handleSYST, public: true, help: "SYST"},
		"STAT": {fn: (*session).handleSTAT, publicBare: true, perm: auth.PermList, inXfer: true, help: "STAT [<path>]"},
		"HELP": {fn: (*session).handleHELP, public: true, help: "HELP [<command>]"},
		"NOOP": {fn: (*session).handleNOOP, public: true, help: "NOOP"},

		// Security (RFC 2228, RFC 4217)
		"AUTH": {fn: (*session).handleAUTH, public: true, arg: argRequired, inXfer: true, help: "AUTH TLS"},
		"PBSZ": {fn: (*session).handlePBSZ, public: true, arg: argRequired, help: "PBSZ 0"},
		"PROT": {fn: (*session).handlePROT, public: true, arg: argRequired, help: "PROT <P|C>"},
		"CCC":  {fn: (*session).handleCCC, public: true, help: "CCC (refused)"},

		// Extensions (RFC 2389, 2640, 3659, draft-somers-ftp-mfxx)
		"FEAT": {fn: (*session).handleFEAT, public: true, help: "FEAT"},
		"OPTS": {fn: (*session).handleOPTS, public: true, arg: argRequired, help: "OPTS <command> [<options>]"},
		"SIZE": {fn: (*session).handleSIZE, arg: argRequired, help: "SIZE <path>"}, // list, or write for the user's interrupted upload
		"MDTM": {fn: (*session).handleMDTM, arg: argRequired, perm: auth.PermList, help: "MDTM <path>"},
		"MFMT": {fn: (*session).handleMFMT, arg: argRequired, perm: auth.PermWrite, help: "MFMT <YYYYMMDDHHMMSS> <path>"},
		"MLST": {fn: (*session).handleMLST, perm: auth.PermList, help: "MLST [<path>]"},
		"AVBL": {fn: (*session).handleAVBL, help: "AVBL [<path>]"},
		"CLNT": {fn: (*session).handleCLNT, public: true, help: "CLNT <client name>"},
		"LANG": {help: "LANG (not implemented: replies are in English)"},
		"MLSD": {fn: (*session).handleMLSD, perm: auth.PermList, xfer: true, help: "MLSD [<path>]"},

		// Checksums (draft-bryan-ftpext-hash-02; the older X commands), cmd_hash.go
		"HASH":    {fn: (*session).handleHASH, arg: argRequired, perm: auth.PermRead, help: "HASH <path> (OPTS HASH <algorithm> selects)"},
		"XSHA256": {fn: xhash("XSHA256", storage.SHA256), arg: argRequired, perm: auth.PermRead, help: "XSHA256 <path> [<start> <end>]"},
		"XSHA1":   {fn: xhash("XSHA1", storage.SHA1), arg: argRequired, perm: auth.PermRead, help: "XSHA1 <path> [<start> <end>]"},
		"XSHA512": {fn: xhash("XSHA512", storage.SHA512), arg: argRequired, perm: auth.PermRead, help: "XSHA512 <path> [<start> <end>]"},
		"XMD5":    {fn: xhash("XMD5", storage.MD5), arg: argRequired, perm: auth.PermRead, help: "XMD5 <path> [<start> <end>]"},
		"XCRC":    {fn: xhash("XCRC", storage.CRC32), arg: argRequired, perm: auth.PermRead, help: "XCRC <path> [<start> <end>]"},
	}
}
